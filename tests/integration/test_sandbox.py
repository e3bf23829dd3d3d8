"""The real sandbox: allowed code runs, runtime tricks are refused, and with layer 1 switched
off (test-only) layer 2 alone still contains escapes and resource attacks."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.sandbox import ExecutionResult, SandboxUnavailable, SandboxViolation, execute_code, sandbox_status
from airlock.sandbox import _bwrap
from airlock.sandbox import _execute_unchecked_for_tests as run_raw

CANARY = "AIRLOCK-CANARY-7f3a9c"


@pytest.fixture(scope="module", autouse=True)
def _need_sandbox() -> None:
    status = sandbox_status()
    if status["mode"] != "bwrap":
        pytest.skip(f"bubblewrap sandbox not usable here: {status['problems']}")


def _modes() -> list[str]:
    return ["bwrap", "landlock"]


@pytest.fixture(params=_modes())
def mode(request: pytest.FixtureRequest) -> str:
    why = _bwrap.probe(request.param)
    if why:
        pytest.skip(f"{request.param} mode unavailable: {why}")
    return str(request.param)


@pytest.fixture
def host_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake HOME with an ssh key and a canary env var, as the host would have."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(CANARY)
    (home / ".env").write_text(f"TOKEN={CANARY}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AIRLOCK_TEST_SECRET", CANARY)
    return home


@pytest.fixture
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The sandbox probe runs anew in this test, and again after it once the test's patches are undone
    (so no later test sees a probe result made under this test's environment)."""
    _bwrap.reset_probe()
    yield monkeypatch
    monkeypatch.undo()
    _bwrap.reset_probe()


def _all(r: ExecutionResult) -> str:
    return r.stdout + r.stderr


# ---------------------------------------------------------------- allowed code


def test_data_work_runs() -> None:
    code = """
import statistics, json, math
from collections import Counter
class P:
    def __init__(self, x):
        self.x = x
    def __repr__(self):
        return f'P({self.x})'
match P(2):
    case P(x=2):
        m = 'matched'
print(statistics.mean([1, 2, 3]), json.dumps({'a': 1}), round(math.pi, 2), P(1), m)
print('{} {:.1f}'.format('fmt', 2.25), Counter('aab').most_common(1))
print(FILES['data.csv'].strip().split(','))
"""
    r = execute_code(code, files={"data.csv": "a,b,c\n"})
    assert r.ok, _all(r)
    assert r.mode == "bwrap"
    lines = r.stdout.splitlines()
    assert lines[0] == '2 {"a": 1} 3.14 P(1) matched'
    assert lines[1] == "fmt 2.2 [('a', 2)]"
    assert lines[2] == "['a', 'b', 'c']"


def test_layer1_refusal_runs_nothing() -> None:
    with pytest.raises(SandboxViolation) as info:
        execute_code("import os\nos.system('touch /tmp/pwned')")
    assert info.value.rule == "import" and info.value.line == 1


# ---------------------------------------------------------------- runtime guard (layer 1, dynamic)

RUNTIME_TRICKS = [
    "getattr((), '__cl' + 'ass__')",
    "getattr((), chr(95)+chr(95)+'class'+chr(95)+chr(95))",
    "getattr((), (b'\\x5f\\x5fcl' + b'\\x61ss\\x5f\\x5f').decode())",
    "n = '_' * 2\ngetattr((), f\"{n}cl{'ass'}{n}\")",
    "import statistics\ngetattr(statistics, 's' + 'ys')",
    "import datetime\nm = getattr(datetime, 'sy' + 's')",
    "f = '{0.' + '_' * 2 + 'class' + '_' * 2 + '}'\nprint(f.format(1))",
    "type('X', (object,), {})",
    "u = '_' * 2\n[x := getattr((), u + 'class' + u)]",
    "import random\ngetattr(random, '_' + 'os')",
    "u = '_' * 2\nf = '{0.' + u + 'class' + u + '}'\nprint(str.format(f, 1))",
    "import re\nprint(getattr(re, 'en' + 'um'))",
    "def g():\n    yield 1\nprint(getattr(g(), 'gi_' + 'frame'))",
    "try:\n    1/0\nexcept Exception as e:\n    print(getattr(e, '_' * 2 + 'traceback' + '_' * 2))",
]


STDLIB_DATA_WORK = [
    ("import collections\nP = collections.namedtuple('P', 'x y')\nprint(P(1, 2))", "P(x=1, y=2)"),
    ("import copy\nclass A:\n    def __init__(self):\n        self.v = [1]\nprint(copy.deepcopy(A()).v)", "[1]"),
    ("import string\nprint(string.Template('$x!').substitute(x=1))", "1!"),
    ("import re\nprint(re.match(r'(\\d+)', '123abc').group(1))", "123"),
    ("import random\nprint(random.Random(1).randint(1, 6))", "2"),
    ("import decimal, fractions\nprint(decimal.Decimal('1.1') + 1, fractions.Fraction(1, 3))", "2.1 1/3"),
    ("import datetime\nprint(datetime.date(2020, 1, 2).isoformat())", "2020-01-02"),
    ("import itertools, functools\nprint(functools.reduce(lambda a, b: a * b, itertools.islice(itertools.count(1), 5)))",
     "120"),
    ("import textwrap\nprint(textwrap.dedent('  a'))", "a"),
    ("print(hasattr('', 'upper'), hasattr('', '_' * 2 + 'class' + '_' * 2))", "True False"),
]


@pytest.mark.parametrize("code,expected", STDLIB_DATA_WORK)
def test_stdlib_data_work(code: str, expected: str) -> None:
    r = execute_code(code)
    assert r.ok and r.stdout.strip() == expected, _all(r)


def test_bad_fast_start_falls_back_to_source(fresh_probe: pytest.MonkeyPatch) -> None:
    python = _bwrap.child_python()
    fresh_probe.setitem(_bwrap._boot_cache, python, (5).to_bytes(4, "big") + b"junk!")
    r = execute_code("print(7)")
    assert r.ok and r.stdout == "7\n"
    assert _bwrap._boot_cache[python] is None


@pytest.mark.parametrize("code", RUNTIME_TRICKS)
def test_runtime_guard_refuses_dynamic_names(code: str) -> None:
    r = execute_code(code, timeout=10)
    assert r.exit_code == 1, _all(r)
    assert "sandbox:" in r.stderr, r.stderr


def test_ten_to_the_ten_to_the_ten_is_contained() -> None:
    started = time.monotonic()
    r = execute_code("x = 10**10**10\nprint('done')", timeout=3, memory_mb=128)
    assert not r.ok and "done" not in r.stdout
    assert time.monotonic() - started < 8


@pytest.mark.parametrize("code,stopped_by", [
    ("x = [1] * 10**10", {"MemoryError"}),
    ("s = 'a' * 10**10", {"MemoryError"}),
    ("while True:\n    pass", {"timeout", "cpu-limit"}),
    ("while True:\n    print('flood' * 1000)", {"output-limit"}),
    ("def f():\n    return [f() for _ in range(2)]\nf()", {"RecursionError"}),
    ("x = []\nwhile True:\n    x.append(' ' * 10**6)", {"MemoryError"}),
])
def test_resource_attacks_with_layer1_on_are_contained(code: str, stopped_by: set[str]) -> None:
    started = time.monotonic()
    r = execute_code(code, timeout=2, memory_mb=128, max_output=8192)
    assert not r.ok
    assert (r.killed in stopped_by) or any(e in r.stderr for e in stopped_by), _all(r)[-500:]
    assert len(r.stdout) <= 8192 and time.monotonic() - started < 6


def test_tracebacks_name_the_users_line() -> None:
    r = execute_code("x = 1\n\n# a comment\ny = (x +\n     1) / 0\n")
    assert r.exit_code == 1 and "ZeroDivisionError" in r.stderr
    assert 'File "<sandbox>", line 4' in r.stderr, r.stderr
    assert "airlock-runner" not in r.stderr


def test_doctor_reports_the_sandbox(fresh_probe: pytest.MonkeyPatch) -> None:
    from airlock._cli_doctor import check_sandbox

    assert [(c.status, "bubblewrap" in c.detail) for c in check_sandbox()] == [("ok", True)]
    fresh_probe.setattr(_bwrap.shutil, "which", lambda *_a, **_k: None)
    _bwrap.reset_probe()
    (c,) = check_sandbox()
    expected = "fail" if _bwrap.probe("landlock") else "warn"
    assert c.status == expected and "bubblewrap (bwrap) is not installed" in c.detail


def test_deep_recursion_is_an_error_not_a_crash() -> None:
    r = execute_code("def f(n):\n    return f(n + 1)\nf(0)", timeout=5)
    assert r.exit_code == 1 and "RecursionError" in r.stderr


# ---------------------------------------------------------------- layer 2 alone (layer 1 off)


def test_layer1_off_really_is_off(mode: str) -> None:
    r = run_raw("import os\nprint(os.getpid() > 0)", mode=mode)
    assert r.ok and r.stdout.strip() == "True", _all(r)


# The reference's escapes, carried to the end (reaching os) with layer 1 off: layer 2 must hold.
_USE_OS = """
print('REACHED', type(osmod).__name__)
try:
    print(osmod.popen('cat /etc/shadow; id').read() or 'no output')
except Exception as e:
    print('denied exec', type(e).__name__)
try:
    print(open(SECRET).read())
except Exception as e:
    print('denied read', type(e).__name__)
print(osmod.environ.get('AIRLOCK_TEST_SECRET', 'no-env'))
"""
ESCAPES = {
    "match-class-pattern": """
match ():
    case object(__class__=t):
        pass
match t:
    case object(__base__=b):
        pass
w = [c for c in b.__subclasses__() if c.__name__ == '_wrap_close'][0]
osmod = __import__(w.__module__)
""",
    "generator-frame-walk": """
def g():
    yield gen.gi_frame.f_back
gen = g()
f = next(gen)
while 'os' not in f.f_globals:
    f = f.f_back
osmod = f.f_globals['os']
""",
    "format-string-walk": """
leak = '{0.__class__.__base__.__subclasses__}'.format(())
assert 'built-in method' in leak
osmod = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__
import types
osmod = types.SimpleNamespace(popen=osmod['popen'], environ=osmod['environ'])
""",
    "traceback-frame-walk": """
try:
    1 / 0
except Exception as e:
    fr = e.__traceback__.tb_frame
osmod = fr.f_globals['__builtins__']['__import__']('os') if isinstance(fr.f_globals['__builtins__'], dict) \
    else fr.f_globals['__builtins__'].__import__('os')
""",
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_reference_escapes_refused_by_layer1(name: str) -> None:
    with pytest.raises(SandboxViolation):
        execute_code(ESCAPES[name] + _USE_OS)


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_reference_escapes_contained_by_layer2_alone(mode: str, host_secrets: Path, name: str) -> None:
    code = f"SECRET = {str(host_secrets / '.ssh' / 'id_ed25519')!r}\n" + ESCAPES[name] + _USE_OS
    r = run_raw(code, mode=mode)
    out = _all(r)
    assert "REACHED" in r.stdout, out  # the escape itself worked: layer 1 really was off
    assert "denied exec PermissionError" in r.stdout, out
    assert "denied read" in r.stdout, out
    assert CANARY not in out and "root:" not in out and "uid=" not in out


def test_cannot_read_host_secrets(mode: str, host_secrets: Path) -> None:
    key = host_secrets / ".ssh" / "id_ed25519"
    code = f"""
import os
for p in ['/etc/shadow', {str(key)!r}, {str(host_secrets / '.env')!r}, '/root/.ssh/id_rsa', '/proc/1/environ']:
    try:
        print(open(p).read())
    except Exception as e:
        print('denied', p, type(e).__name__)
print(sorted(os.environ.items()))
"""
    r = run_raw(code, mode=mode)
    assert r.exit_code == 0, _all(r)
    assert CANARY not in _all(r)
    assert r.stdout.count("denied") == 5
    assert "AIRLOCK_TEST_SECRET" not in r.stdout


def test_cannot_write_outside_its_tmp(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)  # even a world-writable host dir is out of reach
    code = f"""
import os
for p in [{str(target)!r}, '/usr/escaped.txt', '/escaped.txt', '/etc/escaped']:
    try:
        open(p, 'w').write('x')
        print('WROTE', p)
    except Exception as e:
        print('denied', type(e).__name__)
"""
    r = run_raw(code, mode=mode)
    assert r.exit_code == 0, _all(r)
    assert "WROTE" not in r.stdout and r.stdout.count("denied") == 4
    assert not target.exists()


def test_bwrap_private_tmp_is_writable() -> None:
    r = run_raw("open('inside.txt', 'w').write('ok')\nprint(open('/tmp/work/inside.txt').read())", mode="bwrap")
    assert r.ok and r.stdout.strip() == "ok", _all(r)


def test_landlock_mode_writes_nothing() -> None:
    if _bwrap.probe("landlock"):
        pytest.skip("landlock mode unavailable")
    r = run_raw("try:\n    open('inside.txt', 'w')\nexcept OSError as e:\n    print('denied', type(e).__name__)",
                mode="landlock")
    assert r.stdout.strip() == "denied PermissionError", _all(r)


def test_no_network(mode: str) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        end = time.monotonic() + 6
        while time.monotonic() < end:
            try:
                accepted.append(srv.accept())
                return
            except socket.timeout:
                continue

    t = threading.Thread(target=accept)
    t.start()
    code = f"""
import socket
try:
    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)
    print('CONNECTED')
except Exception as e:
    print('denied', type(e).__name__)
"""
    try:
        r = run_raw(code, mode=mode)
    finally:
        t.join()
        srv.close()
    assert "CONNECTED" not in r.stdout and "denied" in r.stdout, _all(r)
    assert accepted == []


def test_no_exec_no_fork(mode: str) -> None:
    r = run_raw("import os\ntry:\n    os.execv('/usr/bin/id', ['id'])\nexcept OSError as e:\n    print('exec', e.errno)\n"
                "try:\n    os.fork()\nexcept OSError as e:\n    print('fork', e.errno)", mode=mode)
    assert r.stdout.split() == ["exec", "1", "fork", "1"], _all(r)


def test_fork_bomb_is_contained(mode: str) -> None:
    started = time.monotonic()
    r = run_raw("import os\nwhile True:\n    os.fork()", timeout=5, mode=mode)
    assert not r.ok and "PermissionError" in r.stderr
    assert time.monotonic() - started < 8


def test_memory_hog_is_contained(mode: str) -> None:
    r = run_raw("x = bytearray(4 * 1024**3)\nprint('GOT')", memory_mb=128, timeout=5, mode=mode)
    assert not r.ok and "GOT" not in r.stdout and "MemoryError" in r.stderr


def test_infinite_loop_killed_at_the_wall_clock(mode: str) -> None:
    started = time.monotonic()
    r = run_raw("while True:\n    pass", timeout=1.5, mode=mode)
    elapsed = time.monotonic() - started
    assert r.killed in {"timeout", "cpu-limit"} and r.exit_code != 0
    assert elapsed < 4


def test_sleeping_process_killed_at_the_wall_clock(mode: str) -> None:
    started = time.monotonic()
    r = run_raw("import time\ntime.sleep(60)", timeout=1, mode=mode)
    assert r.killed == "timeout" and r.timed_out
    assert time.monotonic() - started < 3


def test_output_flood_is_capped(mode: str) -> None:
    started = time.monotonic()
    r = run_raw("while True:\n    print('x' * 10000)", timeout=10, max_output=4096, mode=mode)
    assert r.truncated and r.killed == "output-limit"
    assert len(r.stdout) <= 4096
    assert time.monotonic() - started < 5


def test_filling_tmp_is_bounded(mode: str) -> None:
    code = """
import os
total = 0
try:
    for i in range(1000):
        with open(f'/tmp/fill{i}' if os.path.isdir('/tmp/work') else f'fill{i}', 'wb') as f:
            f.write(b'x' * (4 * 1024 * 1024))
        total += 4
except OSError as e:
    print('stopped', type(e).__name__, total)
"""
    r = run_raw(code, timeout=10, mode=mode)
    out = _all(r)
    assert ("stopped" in r.stdout or r.killed == "file-size-limit"), out
    if mode == "bwrap":
        assert int(r.stdout.split()[-1]) <= 16, out  # the private tmpfs is 16 MiB


# ---------------------------------------------------------------- fail closed


def test_missing_bubblewrap_refuses_to_run(fresh_probe: pytest.MonkeyPatch) -> None:
    fresh_probe.setenv("PATH", "/nonexistent")
    fresh_probe.setattr(_bwrap.shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(SandboxUnavailable) as info:
        execute_code("print(1)")
    assert "bubblewrap" in str(info.value) and "apt-get install" in str(info.value)
    assert "AIRLOCK_SANDBOX_MODE=landlock" in str(info.value)


def test_broken_interpreter_refuses_to_run(fresh_probe: pytest.MonkeyPatch) -> None:
    fresh_probe.setenv("AIRLOCK_SANDBOX_PYTHON", "/nonexistent/python3")
    with pytest.raises(SandboxUnavailable):
        execute_code("print(1)")


def test_interpreter_in_home_is_refused(tmp_path: Path, fresh_probe: pytest.MonkeyPatch) -> None:
    """A python under ~/bin would mean binding $HOME into the sandbox: refused, not exposed."""
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    (home / "lib").mkdir()
    (home / "bin" / "python3").symlink_to("/usr/bin/python3.11" if Path("/usr/bin/python3.11").exists()
                                          else "/usr/bin/python3")
    fresh_probe.setenv("HOME", str(home))
    fresh_probe.setenv("AIRLOCK_SANDBOX_PYTHON", str(home / "bin" / "python3"))
    # the symlink resolves into /usr, so this one is fine ...
    assert _bwrap._interpreter_prefix(str(home / "bin" / "python3")) == "/usr"
    # ... but a real binary in ~/bin is not
    (home / "bin" / "python3").unlink()
    (home / "bin" / "python3").write_bytes(b"")
    with pytest.raises(SandboxUnavailable, match="cannot be shown to the sandbox safely"):
        _bwrap._interpreter_prefix(str(home / "bin" / "python3"))
    _bwrap.reset_probe()
    with pytest.raises(SandboxUnavailable):
        execute_code("print(1)")


@pytest.mark.parametrize("backend", ["python3-seccomp", "libseccomp"])
def test_both_seccomp_backends_filter(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """python3-seccomp (Debian) and the ctypes path to libseccomp (any interpreter) load the same filter."""
    monkeypatch.setenv("AIRLOCK_SANDBOX_SECCOMP", backend)
    r = run_raw("import os, socket\ntry:\n    os.fork()\nexcept OSError as e:\n    print('fork', e.errno)\n"
                "try:\n    socket.socket()\nexcept OSError as e:\n    print('socket', e.errno)", mode="bwrap")
    assert r.stdout.split() == ["fork", "1", "socket", "1"], _all(r)


@pytest.mark.parametrize("backend,hide", [("python3-seccomp", ["seccomp"]), ("auto", ["seccomp", "ctypes"])])
def test_runner_without_seccomp_never_runs_user_code(backend: str, hide: list[str], tmp_path: Path) -> None:
    """The real runner, with the seccomp bindings made unimportable: it exits 121 before user code."""
    import marshal

    job = {"code": "print('USER CODE RAN')", "workdir": str(tmp_path / "w"), "layer1": False, "landlock": None,
           "seccomp_backend": backend, "files": {}, "allowed_modules": [], "blocked_attrs": [],
           "limits": {"memory_bytes": 512 * 1024 * 1024, "cpu_seconds": 5, "file_bytes": 1 << 20,
                      "open_files": 64, "processes": 4096}}
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in hide)
    proc = subprocess.run([_bwrap.child_python(), "-I", "-S", "-c", prelude + _bwrap._RUNNER_SRC],
                          input=marshal.dumps(job, 4), capture_output=True, timeout=30)
    assert proc.returncode == 121, proc.stderr
    assert b"USER CODE RAN" not in proc.stdout and b"seccomp failed" in proc.stderr


def test_runner_exit_121_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner that reports a seccomp failure (exit 121) is turned into SandboxUnavailable, never a result."""
    fake = _bwrap.RawResult(b"", b"airlock-sandbox: seccomp failed: ImportError", 121, None, False, 1.0, "bwrap")
    monkeypatch.setattr(_bwrap, "_run_bwrap", lambda *a, **k: fake)
    monkeypatch.setattr(_bwrap, "select_mode", lambda mode=None: "bwrap")
    with pytest.raises(SandboxUnavailable, match="seccomp could not be applied"):
        execute_code("print(1)")


def test_unknown_seccomp_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_SANDBOX_SECCOMP", "off")
    with pytest.raises(SandboxUnavailable, match="seccomp backend"):
        execute_code("print(1)")


def test_unknown_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_SANDBOX_MODE", "none")
    with pytest.raises(SandboxUnavailable):
        execute_code("print(1)")


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"timeout": -1}, {"timeout": "5"}, {"memory_mb": 1},
                                    {"memory_mb": 10**9}, {"files": {"../x": "a"}}, {"files": {"/etc/x": "a"}},
                                    {"files": ["a"]}, {"files": {"a": 1}}])
def test_bad_arguments_are_clear_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        execute_code("print(1)", **kwargs)  # type: ignore[arg-type]
