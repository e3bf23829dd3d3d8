"""``execute_code``: run untrusted Python in a real OS boundary.

Two layers. Layer 1 (``_ast_policy`` + the runtime guard in ``_runner``) refuses obvious escapes
at once with a rule and a line (``SandboxViolation``). Layer 2 (``_bwrap``) is the boundary:
a fresh process under bubblewrap namespaces (or Landlock where user namespaces are missing),
seccomp, rlimits, a wall-clock kill and capped output. If layer 2 cannot be built, nothing runs
(``SandboxUnavailable``): there is no silent in-process fallback.

What user code may import: ``ALLOWED_MODULES`` (math, cmath, statistics, json, re, datetime,
collections, itertools, functools, decimal, fractions, string, textwrap, random, heapq, bisect,
copy). Classes may define ``__init__``/``__repr__`` and the operator dunders in
``ALLOWED_DUNDER_DEFS``; ``match``, f-strings and ``str.format`` on plain values work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import _bwrap
from ._ast_policy import ALLOWED_DUNDER_DEFS, ALLOWED_MODULES, BLOCKED_ATTRS, BLOCKED_NAMES, check
from ._errors import SandboxUnavailable, SandboxViolation

__all__ = ["execute_code", "ExecutionResult", "SandboxViolation", "SandboxUnavailable", "sandbox_status",
           "doctor_report",
           "check", "ALLOWED_MODULES", "BLOCKED_NAMES", "BLOCKED_ATTRS", "ALLOWED_DUNDER_DEFS"]

MAX_TIMEOUT = 300.0
MAX_MEMORY_MB = 8192
MAX_FILES_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ExecutionResult:
    """What one sandboxed execution produced. ``killed`` names the limit that stopped it, if any."""

    stdout: str
    stderr: str
    exit_code: int | None
    killed: str | None
    truncated: bool
    duration_ms: float
    mode: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed is None

    @property
    def timed_out(self) -> bool:
        return self.killed == "timeout"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def __str__(self) -> str:
        """The text an agent sees: output, then why it stopped if it did not finish cleanly."""
        out = self.stdout
        if self.stderr:
            out += ("\n" if out and not out.endswith("\n") else "") + self.stderr
        if self.truncated:
            out += "\n[output truncated]"
        if self.killed:
            out += f"\n[stopped: {self.killed}]"
        elif self.exit_code:
            out += f"\n[exit code {self.exit_code}]"
        return out


def _files(files: dict[str, str | bytes] | None) -> dict[str, bytes] | None:
    if files is None:
        return None
    if not isinstance(files, dict):
        raise TypeError("files must be a dict of relative path -> str or bytes")
    out: dict[str, bytes] = {}
    total = 0
    for name, data in files.items():
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.replace("\\", "/").split("/"):
            raise ValueError(f"bad file name {name!r}: must be a relative path without '..'")
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if not isinstance(raw, bytes):
            raise TypeError(f"file {name!r}: content must be str or bytes")
        total += len(raw)
        out[name] = raw
    if total > MAX_FILES_BYTES:
        raise ValueError(f"files total {total} bytes (limit {MAX_FILES_BYTES})")
    return out


def _limits(timeout: float, memory_mb: int, max_output: int) -> _bwrap.Limits:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be a number in (0, {MAX_TIMEOUT}] seconds")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or not 64 <= memory_mb <= MAX_MEMORY_MB:
        raise ValueError(f"memory_mb must be an int in [64, {MAX_MEMORY_MB}]")
    if isinstance(max_output, bool) or not isinstance(max_output, int) or not 1024 <= max_output <= 64 * 1024 * 1024:
        raise ValueError("max_output must be an int in [1024, 67108864] bytes")
    return _bwrap.Limits(timeout=float(timeout), memory_mb=memory_mb, max_output=max_output)


def execute_code(code: str, *, timeout: float = 10.0, memory_mb: int = 256,
                 files: dict[str, str | bytes] | None = None, max_output: int = 64 * 1024) -> ExecutionResult:
    """Run ``code`` in a fresh sandboxed process and return its output.

    Raises ``SandboxViolation`` if layer 1 refuses the code (nothing runs) and
    ``SandboxUnavailable`` if the OS boundary cannot be set up here (nothing runs).
    ``files`` (relative path -> content) are given to the code as the dict ``FILES`` (layer 1 has no
    ``open``) and written to its working directory. This function asks no one: agents should use the
    guarded tool ``airlock.tools.execute_code`` (CRITICAL, needs approval).
    """
    from ._ast_policy import prepare

    guarded = prepare(code)
    limits = _limits(timeout, memory_mb, max_output)
    raw = _bwrap.run(guarded, _files(files), limits, layer1=True)
    return _to_result(raw)


def _to_result(raw: _bwrap.RawResult) -> ExecutionResult:
    return ExecutionResult(stdout=raw.stdout.decode("utf-8", "replace"), stderr=raw.stderr.decode("utf-8", "replace"),
                           exit_code=raw.exit_code, killed=raw.killed, truncated=raw.truncated,
                           duration_ms=raw.duration_ms, mode=raw.mode)


def _execute_unchecked_for_tests(code: str, *, timeout: float = 10.0, memory_mb: int = 256,
                                 files: dict[str, str | bytes] | None = None, max_output: int = 64 * 1024,
                                 mode: str | None = None) -> ExecutionResult:
    """TEST ONLY: layer 1 off (raw code, full builtins) to prove layer 2 contains it on its own."""
    limits = _limits(timeout, memory_mb, max_output)
    return _to_result(_bwrap.run(code, _files(files), limits, layer1=False, mode=mode))


def sandbox_status() -> dict[str, Any]:
    """For ``airlock doctor``: which layer-2 modes work here and why the others do not."""
    modes = {m: _bwrap.probe(m) for m in ("bwrap", "landlock")}
    usable = [m for m, why in modes.items() if why is None]
    return {"usable": bool(usable), "mode": usable[0] if usable else None, "python": _bwrap.child_python(),
            "problems": {m: why for m, why in modes.items() if why}}


def doctor_report() -> tuple[str, str]:
    """(status, detail) for ``airlock doctor``: ok with bubblewrap, warn with only the opt-in fallback, else fail."""
    st = sandbox_status()
    probs = st["problems"]
    if "bwrap" not in probs:
        return "ok", f"bubblewrap + seccomp + rlimits work (child {st['python']})"
    if "landlock" not in probs:
        return "warn", (f"bubblewrap unusable ({probs['bwrap']}); execute_code refuses to run unless you opt into "
                        "the weaker Landlock fallback: AIRLOCK_SANDBOX_MODE=landlock")
    return "fail", (f"no sandbox: bwrap: {probs['bwrap']}; landlock: {probs['landlock']}. execute_code refuses to "
                    "run. Fix: apt-get install bubblewrap python3-seccomp")
