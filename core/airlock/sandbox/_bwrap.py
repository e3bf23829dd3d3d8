"""Layer 2, the boundary: one fresh process per execution, confined by the OS.

Preferred mode ``bwrap``: bubblewrap with new user/pid/net/ipc/uts/cgroup namespaces, only
``/usr`` visible (read-only), a size-capped private tmpfs ``/tmp``, an empty environment,
uid 65534 (and, when Airlock itself runs as root, bubblewrap is started as host uid 65534 too).
Fallback mode ``landlock`` (for hosts without user namespaces): the same runner as host uid
65534 when root, otherwise the caller's uid, confined by Landlock (read ``/usr`` and its private work dir,
write nothing: without a size-capped tmpfs there is no bounded place to write) and seccomp (no sockets so no network, no exec/fork). Both modes add rlimits,
the seccomp filter, a wall-clock kill of the whole process group and capped output.
If neither mode can be set up, nothing runs (``SandboxUnavailable`` says what to install).
"""

from __future__ import annotations

import logging
import marshal
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import SandboxUnavailable

if TYPE_CHECKING:
    from ._ast_policy import Prepared

__all__ = ["Limits", "RawResult", "run", "probe", "child_python", "RUNNER_EXIT"]

log = logging.getLogger("airlock.sandbox")
_RUNNER_SRC = (Path(__file__).with_name("_runner.py")).read_text(encoding="utf-8")
# Fast start: when the child interpreter has our bytecode format, the runner travels as a
# marshalled code object ahead of the job on stdin (compiling its source costs the child
# more than everything else it does). Otherwise its source is passed with -c.
_BOOT = ("import marshal,sys\nr=sys.stdin.buffer\nn=int.from_bytes(r.read(4),'big')\n"
         "exec(marshal.loads(r.read(n)))")
_boot_cache: dict[str, bytes | None] = {}
_boot_lock = threading.Lock()


def _runner_blob(python: str) -> bytes | None:
    """The length-prefixed marshalled runner if ``python`` shares our bytecode tag, else None. Cached."""
    with _boot_lock:
        if python not in _boot_cache:
            blob = None
            try:
                tag = subprocess.run([python, "-I", "-S", "-c", "import sys;print(sys.implementation.cache_tag)"],
                                     capture_output=True, timeout=10, env={"PATH": "/usr/bin:/bin"}).stdout
                if tag.decode().strip() == sys.implementation.cache_tag:
                    code = marshal.dumps(compile(_RUNNER_SRC, "<airlock-runner>", "exec"))
                    blob = len(code).to_bytes(4, "big") + code
            except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
                blob = None
            _boot_cache[python] = blob
        return _boot_cache[python]


def _runner_args(python: str) -> tuple[list[str], bytes]:
    """(argv tail, stdin prefix) that start the runner in ``python``."""
    blob = _runner_blob(python)
    if blob is None:
        return ["-I", "-S", "-B", "-c", _RUNNER_SRC], b""
    return ["-I", "-S", "-B", "-c", _BOOT], blob
RUNNER_EXIT = {120: "runner setup failed", 121: "seccomp could not be applied",
               122: "landlock could not be applied", 123: "privilege drop failed"}
_NOBODY = 65534
_INSTALL_HINT = "apt-get install bubblewrap python3-seccomp (or run packaging/airlock-setup.sh)"


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0
    memory_mb: int = 256
    max_output: int = 64 * 1024
    file_bytes: int = 8 * 1024 * 1024
    tmp_bytes: int = 16 * 1024 * 1024
    open_files: int = 64
    processes: int = 1


@dataclass
class RawResult:
    stdout: bytes
    stderr: bytes
    exit_code: int | None
    killed: str | None
    truncated: bool
    duration_ms: float
    mode: str


def child_python() -> str:
    """The interpreter run inside the sandbox: Debian's (it sees python3-seccomp) unless overridden."""
    override = os.environ.get("AIRLOCK_SANDBOX_PYTHON")
    if override:
        return override
    if os.path.exists("/usr/bin/python3"):
        return "/usr/bin/python3"
    return os.path.realpath(sys.executable)


def _ro_system_binds(python: str) -> list[str]:
    """Read-only view: /usr (+ the merged-usr symlinks) and the interpreter's prefix if elsewhere."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "lib32", "bin", "sbin"):
        p = f"/{name}"
        if os.path.islink(p):
            args += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            args += ["--ro-bind", p, p]
    prefix = _interpreter_prefix(python)
    if not _under(prefix, "/usr"):
        args += ["--ro-bind", prefix, prefix]
    return args


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _interpreter_prefix(python: str) -> str:
    """The interpreter's install prefix, which the sandbox must see; refused if it would expose more
    (``/``, or a directory holding the user's home, as with a python in ``~/bin``)."""
    prefix = os.path.realpath(os.path.dirname(os.path.dirname(os.path.realpath(python))))
    home = os.path.realpath(os.path.expanduser("~"))
    if prefix == "/" or _under(home, prefix) or not os.path.isdir(os.path.join(prefix, "lib")):
        raise SandboxUnavailable("sandbox interpreter", f"{python} lives in {prefix}, which cannot be shown to "
                                 "the sandbox safely", "set AIRLOCK_SANDBOX_PYTHON to a system python3 (/usr/bin/python3)")
    return prefix


def _bwrap_argv(bwrap: str, python: str, limits: Limits, tail: list[str] | None = None) -> list[str]:
    return [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            *_ro_system_binds(python), "--dev", "/dev", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8",
            "--remount-ro", "/", "--uid", str(_NOBODY), "--gid", str(_NOBODY), "--hostname", "sandbox", "--chdir", "/tmp",
            python, *(tail if tail is not None else ["-I", "-S", "-B", "-c", _RUNNER_SRC])]


def _drop_kwargs() -> dict[str, Any]:
    """When Airlock runs as root, the sandbox does not: start it as host uid/gid 65534."""
    if os.geteuid() == 0:
        return {"user": _NOBODY, "group": _NOBODY, "extra_groups": []}
    return {}


def _seccomp_backend() -> str:
    """AIRLOCK_SANDBOX_SECCOMP=auto|python3-seccomp|libseccomp (libseccomp: ctypes, for interpreters
    that cannot import Debian's bindings). The filter is never optional."""
    value = os.environ.get("AIRLOCK_SANDBOX_SECCOMP", "auto")
    if value not in ("auto", "python3-seccomp", "libseccomp"):
        raise SandboxUnavailable("configuration", f"unknown seccomp backend {value!r}",
                                 "AIRLOCK_SANDBOX_SECCOMP=auto|python3-seccomp|libseccomp")
    return value


def _job(code: "str | Prepared", files: dict[str, bytes] | None, limits: Limits, layer1: bool, workdir: str,
         landlock: dict[str, list[str]] | None, fast: bool) -> bytes:
    """The job for ``_runner``: code, files, limits and the layer-1 tables."""
    from ._ast_policy import ALLOWED_MODULES, BLOCKED_ATTRS, Prepared

    program: Any = code
    if isinstance(code, Prepared):  # bytecode when the child shares our format, else source
        program = code.code if fast else code.source()
    mem = max(64, int(limits.memory_mb)) * 1024 * 1024
    job = {
        "seccomp_backend": _seccomp_backend(),
        "code": program, "workdir": workdir, "layer1": layer1, "landlock": landlock,
        "files": dict(files or {}),
        "allowed_modules": sorted(ALLOWED_MODULES), "blocked_attrs": sorted(BLOCKED_ATTRS),
        "limits": {"memory_bytes": mem, "cpu_seconds": max(1, int(limits.timeout) + 1),
                   "file_bytes": limits.file_bytes, "open_files": limits.open_files,
                   "processes": limits.processes},
    }
    # marshal (version 4, basic types only) because the child must not pay for importing json
    return marshal.dumps(job, 4)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _communicate(argv: list[str], payload: bytes, limits: Limits, mode: str,
                 cwd: str | None = None, extra: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None, drop: bool = True) -> RawResult:
    """Run ``argv``, feed ``payload``, cap output, kill the process group at the deadline."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env if env is not None else {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                            cwd=cwd or "/", start_new_session=True, close_fds=True,
                            **(_drop_kwargs() if drop else {}), **(extra or {}))
    assert proc.stdin and proc.stdout and proc.stderr
    deadline = started + limits.timeout
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    killed: str | None = None
    truncated = False
    sel = selectors.DefaultSelector()
    try:
        for f in (proc.stdout, proc.stderr):
            os.set_blocking(f.fileno(), False)
            sel.register(f, selectors.EVENT_READ)
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
        view = memoryview(payload)
        open_readers = 2
        while open_readers:
            left = deadline - time.perf_counter()
            if left <= 0:
                killed = "timeout"
                break
            for key, _ in sel.select(min(left, 0.5)):
                f = key.fileobj
                if f is proc.stdin:
                    try:
                        view = view[os.write(proc.stdin.fileno(), view[:65536]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        view = view[:0]
                    if not view:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                try:
                    chunk = os.read(f.fileno(), 65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(f)
                    open_readers -= 1
                    continue
                buf = bufs[f]  # type: ignore[index]
                room = limits.max_output - len(buf)
                buf += chunk[:max(0, room)]
                if len(chunk) > room:
                    truncated = True
                    killed = "output-limit"
                    open_readers = 0
                    break
        if killed:
            _kill(proc)
        try:
            proc.wait(timeout=max(0.5, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            killed = killed or "timeout"
            _kill(proc)
            proc.wait()
    finally:
        sel.close()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        if proc.returncode is None:
            _kill(proc)
            proc.wait()
    code = proc.returncode
    if killed is None and code is not None and code < 0:
        sig = -code
        killed = {signal.SIGXCPU: "cpu-limit", signal.SIGXFSZ: "file-size-limit",
                  signal.SIGKILL: "killed"}.get(sig, f"signal {sig}")
    return RawResult(bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr]), code, killed, truncated,
                     (time.perf_counter() - started) * 1000.0, mode)


def _run_bwrap(code: "str | Prepared", files: dict[str, bytes] | None, limits: Limits, layer1: bool) -> RawResult:
    bwrap = shutil.which("bwrap") or "/usr/bin/bwrap"
    python = child_python()
    tail, prefix = _runner_args(python)
    payload = prefix + _job(code, files, limits, layer1, "/tmp/work", None, bool(prefix))
    return _communicate(_bwrap_argv(bwrap, python, limits, tail), payload, limits, "bwrap")


def _run_landlock(code: "str | Prepared", files: dict[str, bytes] | None, limits: Limits, layer1: bool) -> RawResult:
    python = child_python()
    prefix = _interpreter_prefix(python)
    read = sorted({"/usr", prefix} | {p for p in ("/lib", "/lib64", "/bin") if os.path.isdir(p)})
    with tempfile.TemporaryDirectory(prefix="airlock-sbx-") as tmp:
        work = os.path.join(tmp, "work")
        os.mkdir(work, 0o700)
        if os.geteuid() == 0:
            os.chown(tmp, _NOBODY, _NOBODY)
            os.chown(work, _NOBODY, _NOBODY)
        # Writes are refused everywhere (no private tmpfs without namespaces, so no bounded place to write).
        tail, prefix = _runner_args(python)
        payload = prefix + _job(code, files, limits, layer1, work, {"read": read + [work], "write": ["/dev/null"]},
                                bool(prefix))
        argv = [python, *tail]
        return _communicate(argv, payload, limits, "landlock", cwd=work)


_probe_lock = threading.Lock()
_probe_cache: dict[str, str | None] = {}


def probe(mode: str) -> str | None:
    """None if ``mode`` works on this host (a trivial job runs and seccomp loads), else why not. Cached."""
    with _probe_lock:
        if mode in _probe_cache:
            return _probe_cache[mode]
        reason: str | None = None
        python = child_python()
        if not os.path.exists(python):
            reason = f"sandbox interpreter {python} not found"
        elif mode == "bwrap" and not shutil.which("bwrap"):
            reason = "bubblewrap (bwrap) is not installed"
        else:
            try:
                runner = _run_bwrap if mode == "bwrap" else _run_landlock
                res = runner("print('ok')", None, Limits(timeout=10.0), True)
                if (res.exit_code != 0 or res.stdout.strip() != b"ok") and _runner_blob(python) is not None:
                    with _boot_lock:  # the fast start failed: fall back to passing the source
                        _boot_cache[python] = None
                    res = runner("print('ok')", None, Limits(timeout=10.0), True)
                if res.exit_code != 0 or res.stdout.strip() != b"ok":
                    detail = RUNNER_EXIT.get(res.exit_code or 0, f"exit code {res.exit_code}")
                    err = res.stderr.decode("utf-8", "replace").strip().splitlines()
                    reason = f"{detail}: {err[-1] if err else 'no output'}"
            except SandboxUnavailable as exc:
                reason = f"{exc.layer}: {exc.reason}"
            except OSError as exc:
                reason = f"cannot start: {exc}"
        _probe_cache[mode] = reason
        return reason


def reset_probe() -> None:
    with _probe_lock:
        _probe_cache.clear()
    with _boot_lock:
        _boot_cache.clear()


def select_mode(requested: str | None = None) -> str:
    """The mode to use (``bwrap`` unless ``landlock`` is asked for); raise ``SandboxUnavailable`` if it fails."""
    requested = requested or os.environ.get("AIRLOCK_SANDBOX_MODE", "auto")
    if requested not in ("auto", "bwrap", "landlock"):
        raise SandboxUnavailable("configuration", f"unknown sandbox mode {requested!r}",
                                 "AIRLOCK_SANDBOX_MODE=auto|bwrap|landlock")
    # auto means bubblewrap only: the Landlock fallback is weaker (no namespaces) and must be chosen
    # explicitly (AIRLOCK_SANDBOX_MODE=landlock); results carry ``mode`` so the audit log shows it.
    candidates = ["bwrap"] if requested == "auto" else [requested]
    reasons = []
    for mode in candidates:
        why = probe(mode)
        if why is None:
            if mode != "bwrap":
                log.warning("Airlock sandbox: running in the weaker %s fallback (no namespaces), as "
                            "AIRLOCK_SANDBOX_MODE asks", mode)
            return mode
        reasons.append(f"{mode}: {why}")
    hint = _INSTALL_HINT
    if requested == "auto":
        hint += "; without user namespaces, opt into the weaker fallback with AIRLOCK_SANDBOX_MODE=landlock"
    raise SandboxUnavailable("layer 2 (OS boundary)", "; ".join(reasons), hint)


def run(code: "str | Prepared", files: dict[str, bytes] | None, limits: Limits, *, layer1: bool, mode: str | None = None) -> RawResult:
    """Run already-checked ``code`` in the sandbox; raise ``SandboxUnavailable`` if it cannot be built."""
    chosen = select_mode(mode)
    res = (_run_bwrap if chosen == "bwrap" else _run_landlock)(code, files, limits, layer1)
    if res.exit_code in (121, 122, 123) and res.killed is None:
        why = res.stderr.decode("utf-8", "replace").strip()
        raise SandboxUnavailable(RUNNER_EXIT[res.exit_code], why, _INSTALL_HINT)
    return res
