"""Process tools: ``execute_command``, ``kill_process`` and ``execute_code`` (the sandbox), all CRITICAL.

CRITICAL means every call goes through the engine and, unless a rule allows it, a human.
An approved shell command runs on the host (that is what was approved) but with a wall-clock
kill of its whole process group, capped output and an environment stripped of secret-looking
variables. ``execute_code`` needs no such trust: it runs in ``airlock.sandbox``.
"""

from __future__ import annotations

import os
import re
import signal
import time

from ..engine import ToolBlocked
from ..events import RiskLevel
from .._guard import guard

__all__ = ["execute_command", "kill_process", "execute_code", "MAX_COMMAND_OUTPUT"]

MAX_COMMAND_OUTPUT = 64 * 1024
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|AUTH|COOKIE|SESSION)", re.IGNORECASE)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k)}


def _run_capped(argv: list[str], cwd: str | None, timeout: float, cap: int) -> tuple[bytes, bytes, int | None, str | None]:
    """Run with its own process group; kill the group at the deadline; keep at most ``cap`` bytes per stream."""
    from ..sandbox._bwrap import Limits, _communicate

    limits = Limits(timeout=timeout, max_output=cap)
    raw = _communicate(argv, b"", limits, "host", cwd=cwd, env=_clean_env(), drop=False)
    return raw.stdout, raw.stderr, raw.exit_code, raw.killed


@guard(name="execute_command", risk=RiskLevel.CRITICAL)
def execute_command(command: str, cwd: str | None = None, timeout: float = 30.0) -> str:
    """Run a shell command (after approval) and return its exit code and output."""
    if not isinstance(command, str) or not command.strip() or "\x00" in command:
        raise ValueError("command must be a non-empty string")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        raise ValueError("timeout must be in (0, 600] seconds")
    out, err, code, killed = _run_capped(["/bin/sh", "-c", command], cwd, float(timeout), MAX_COMMAND_OUTPUT)
    text = f"exit code: {code}\n" + out.decode("utf-8", "replace")
    if err:
        text += "\n[stderr]\n" + err.decode("utf-8", "replace")
    if killed:
        text += f"\n[stopped: {killed}]"
    return text


@guard(name="kill_process", risk=RiskLevel.CRITICAL)
def kill_process(pid: int, force: bool = False) -> str:
    """Send SIGTERM (or SIGKILL when ``force``) to the process ``pid`` (after approval)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
        raise ValueError("pid must be an integer greater than 1")
    if pid in (os.getpid(), os.getppid()):
        raise ToolBlocked("kill_process will not kill Airlock's own process or its parent")
    os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
    return f"sent {'SIGKILL' if force else 'SIGTERM'} to {pid}"


@guard(name="execute_code", risk=RiskLevel.CRITICAL)
def execute_code(code: str, timeout: float = 10.0) -> str:
    """Run Python ``code`` in Airlock's sandbox (no files, no network, limited time and memory); return its output."""
    from ..sandbox import execute_code as run_sandboxed

    started = time.perf_counter()
    result = run_sandboxed(code, timeout=timeout)  # SandboxViolation / SandboxUnavailable propagate
    text = str(result)
    if result.mode != "bwrap":  # the opt-in weaker fallback: say so in the output (and so in the audit log)
        text += f"\n[sandbox mode: {result.mode} (weaker fallback, opted into via AIRLOCK_SANDBOX_MODE)]"
    return text if text else f"(no output; ran in {(time.perf_counter() - started) * 1000:.0f} ms)"
