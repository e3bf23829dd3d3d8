"""The guarded built-in tools on real files, a real HTTP server and the real sandbox;
plus end to end: an agent process whose ``execute_code`` call is approved (and runs in the
sandbox) or denied by a real ``airlock`` socket server."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

import airlock
from airlock import tools
from airlock._runtime import runtime
from airlock.approval import AutoApprover, DenyAllApprover
from airlock.events import ApprovalDecision, ApprovalRequest, RiskLevel
from airlock.sandbox import SandboxViolation, sandbox_status

REPO = Path(__file__).resolve().parents[2]


class Recorder:
    """An approver that answers as told and remembers what it was asked."""

    def __init__(self, approve: bool) -> None:
        self.approve = approve
        self.asked: list[str] = []

    def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        self.asked.append(getattr(request.event, "tool_name", "?"))
        return ApprovalDecision(self.approve, "test", "approved by test" if self.approve else "denied by test")


@pytest.fixture
def approver() -> Iterator[Recorder]:
    rec = Recorder(approve=True)
    runtime.engine.approver = rec
    try:
        yield rec
    finally:
        runtime.engine.approver = None


def test_risk_levels_match_the_reference() -> None:
    expected = {"execute_command": RiskLevel.CRITICAL, "kill_process": RiskLevel.CRITICAL,
                "execute_code": RiskLevel.CRITICAL, "write_file": RiskLevel.HIGH, "apply_diff": RiskLevel.HIGH,
                "copy_file": RiskLevel.HIGH, "move_file": RiskLevel.HIGH, "delete_file": RiskLevel.HIGH,
                "download_file": RiskLevel.MEDIUM, "read_file": RiskLevel.NONE, "list_files": RiskLevel.NONE}
    got = {t.airlock_tool_name: t.airlock_risk for t in tools.ALL_TOOLS}  # type: ignore[attr-defined]
    assert got == expected
    assert [t.__name__ for t in tools.praisonai_tools("read_file", "execute_code")] == ["read_file", "execute_code"]
    with pytest.raises(KeyError):
        tools.praisonai_tools("rm_rf")


@pytest.mark.parametrize("call", [
    lambda d: tools.write_file(str(d / "a.txt"), "x"),
    lambda d: tools.delete_file(str(d / "keep.txt")),
    lambda d: tools.execute_code("print(1)"),
    lambda d: tools.execute_command("true"),
])
def test_high_and_critical_tools_are_denied_without_an_approver(tmp_path: Path, call: Any) -> None:
    (tmp_path / "keep.txt").write_text("k")
    runtime.engine.approver = DenyAllApprover()
    try:
        with pytest.raises(airlock.ToolBlocked):
            call(tmp_path)
    finally:
        runtime.engine.approver = None
    assert (tmp_path / "keep.txt").read_text() == "k" and not (tmp_path / "a.txt").exists()


def test_auto_approve_env_runs_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_AUTO_APPROVE", "1")
    assert isinstance(runtime.engine.approver, AutoApprover)
    tools.write_file(str(tmp_path / "a.txt"), "hello")
    assert (tmp_path / "a.txt").read_text() == "hello"


def test_file_tools_work_when_approved(tmp_path: Path, approver: Recorder) -> None:
    f = tmp_path / "a.txt"
    assert "wrote" in tools.write_file(str(f), "one\ntwo\nthree\n")
    tools.write_file(str(f), "four\n", append=True)
    assert tools.read_file(str(f)) == "one\ntwo\nthree\nfour\n"
    diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
    tools.apply_diff(str(f), diff)
    assert f.read_text() == "one\nTWO\nthree\nfour\n"
    tools.apply_diff(str(f), "<<<<<<< SEARCH\nfour\n=======\nFOUR\n>>>>>>> REPLACE\n")
    assert f.read_text() == "one\nTWO\nthree\nFOUR\n"
    with pytest.raises(ValueError):
        tools.apply_diff(str(f), "@@ -1,1 +1,1 @@\n-nope\n+x\n")
    assert f.read_text() == "one\nTWO\nthree\nFOUR\n"  # all or nothing
    tools.copy_file(str(f), str(tmp_path / "b.txt"))
    tools.move_file(str(tmp_path / "b.txt"), str(tmp_path / "c.txt"))
    assert sorted(tools.list_files(str(tmp_path))) == ["a.txt", "c.txt"]
    assert tools.list_files(str(tmp_path), "c*") == ["c.txt"]
    tools.delete_file(str(tmp_path / "c.txt"))
    assert not (tmp_path / "c.txt").exists()
    (tmp_path / "d" / ".git").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        tools.move_file(str(tmp_path / "d"), str(tmp_path / "e"))
    with pytest.raises(IsADirectoryError):
        tools.delete_file(str(tmp_path / "d"))
    assert (tmp_path / "d" / ".git").is_dir()
    assert {"write_file", "apply_diff", "copy_file", "move_file", "delete_file"} <= set(approver.asked)


@pytest.mark.parametrize("make", ["env", "symlink", "git", "dotdot"])
def test_protected_paths_refused_even_when_approved(tmp_path: Path, approver: Recorder, make: str) -> None:
    env = tmp_path / ".env"
    env.write_text("TOKEN=secret\n")
    (tmp_path / ".git").mkdir()
    if make == "env":
        target = str(env)
    elif make == "symlink":
        (tmp_path / "notes.txt").symlink_to(env)
        target = str(tmp_path / "notes.txt")
    elif make == "git":
        target = str(tmp_path / ".git" / "config")
    else:
        (tmp_path / "sub").mkdir()
        target = str(tmp_path / "sub" / ".." / ".env")
    for call in (lambda: tools.write_file(target, "pwned"), lambda: tools.delete_file(target),
                 lambda: tools.copy_file(str(tmp_path / "x"), target), lambda: tools.move_file(target, str(tmp_path / "y")),
                 lambda: tools.apply_diff(target, "<<<<<<< SEARCH\nTOKEN\n=======\nX\n>>>>>>> REPLACE\n")):
        with pytest.raises(airlock.ToolBlocked):
            call()
    assert env.read_text() == "TOKEN=secret\n"
    assert not (tmp_path / "y").exists()


def test_protection_holds_with_security_off_and_auto_approve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_AUTO_APPROVE", "1")
    env = tmp_path / ".env"
    env.write_text("A=1\n")
    with pytest.raises(airlock.ToolBlocked, match="environment file"):
        tools.write_file(str(env), "B=2\n")
    assert env.read_text() == "A=1\n"


def test_copying_a_secret_out_is_refused(tmp_path: Path, approver: Recorder) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519").write_text("KEY")
    with pytest.raises(airlock.ToolBlocked):
        tools.copy_file(str(tmp_path / ".ssh" / "id_ed25519"), str(tmp_path / "public.txt"))
    assert not (tmp_path / "public.txt").exists()


def test_secret_reads_are_asked_not_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    key = tmp_path / ".ssh" / "id_ed25519"
    key.write_text("PRIVATE")
    (tmp_path / "plain.txt").write_text("plain")
    assert runtime.idle  # nothing enabled: the fast path
    deny = Recorder(approve=False)
    runtime.engine.approver = deny
    try:
        assert tools.read_file(str(tmp_path / "plain.txt")) == "plain"
        assert deny.asked == []
        with pytest.raises(airlock.ToolBlocked):
            tools.read_file(str(key))
        with pytest.raises(airlock.ToolBlocked):
            tools.list_files(str(tmp_path / ".ssh"))
        assert deny.asked == ["read_file", "list_files"]
        yes = Recorder(approve=True)
        runtime.engine.approver = yes
        assert tools.read_file(str(key)) == "PRIVATE"
        assert yes.asked == ["read_file"]
    finally:
        runtime.engine.approver = None


def test_execute_command_runs_with_caps_and_no_secret_env(approver: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_KEY", "sk-canary")
    out = tools.execute_command("echo hi; echo err >&2; env")
    assert out.startswith("exit code: 0\nhi\n") and "err" in out
    assert "sk-canary" not in out
    slow = tools.execute_command("sleep 30 & sleep 30", timeout=1)
    assert "[stopped: timeout]" in slow
    flood = tools.execute_command("yes")
    assert "[stopped: output-limit]" in flood and len(flood) < 70_000


def test_kill_process(approver: Recorder) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        tools.kill_process(proc.pid)
        assert proc.wait(5) != 0
    finally:
        proc.kill()
    with pytest.raises(airlock.ToolBlocked):
        tools.kill_process(os.getpid())
    with pytest.raises(ValueError):
        tools.kill_process(1)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.csv").write_text("a,b\n1,2\n")
    (root / "big.bin").write_bytes(b"x" * 200_000)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_download_file(tmp_path: Path, http_server: str, approver: Recorder) -> None:
    dest = tmp_path / "dl"
    assert "downloaded 8 bytes" in tools.download_file(f"{http_server}/data.csv", str(dest))
    assert (dest / "data.csv").read_text() == "a,b\n1,2\n"
    with pytest.raises(ValueError, match="limit|exceeds"):
        tools.download_file(f"{http_server}/big.bin", str(dest), max_bytes=1000)
    assert not (dest / "big.bin").exists()
    for url in ("file:///etc/passwd", "ftp://example.com/x", "data:text/plain,hi", "gopher://x/"):
        with pytest.raises(airlock.ToolBlocked, match="scheme"):
            tools.download_file(url, str(dest))
    with pytest.raises(airlock.ToolBlocked):
        tools.download_file(f"{http_server}/data.csv", str(dest), filename=".env")
    with pytest.raises(ValueError):
        tools.download_file(f"{http_server}/data.csv", str(dest), filename="../escape.csv")


# ------------------------------------------------------------------ execute_code end to end

needs_sandbox = pytest.mark.skipif(not sandbox_status()["usable"], reason="bubblewrap sandbox not usable here")


@needs_sandbox
def test_execute_code_tool_runs_in_the_sandbox(approver: Recorder) -> None:
    out = tools.execute_code("print(sum(range(10)))")
    assert out.strip() == "45" and approver.asked == ["execute_code"]
    with pytest.raises(SandboxViolation):
        tools.execute_code("import os\nprint(os.listdir('/'))")


AGENT = r"""
import json, sys
from airlock import desktop_hooks, tools, ToolBlocked
desktop_hooks.connect("sandbox-agent", socket_path=sys.argv[1], check=True)
try:
    print(json.dumps({"ok": tools.execute_code("print(6 * 7)")}))
except ToolBlocked as exc:
    print(json.dumps({"blocked": str(exc)}))
"""


@needs_sandbox
@pytest.mark.parametrize("approve", [True, False])
def test_agent_process_execute_code_via_server(approve: bool) -> None:
    from airlock.engine import Engine
    from airlock.server import Server

    rec = Recorder(approve=approve)
    with tempfile.TemporaryDirectory(prefix="al-", dir="/tmp") as d:
        sock = Path(d) / "airlock.sock"
        server = Server(Engine(hooks=airlock.hooks.HookRegistry()), sock, approver=rec).start()
        try:
            env = dict(os.environ, PYTHONPATH=str(REPO / "core"))
            env.pop("AIRLOCK_AUTO_APPROVE", None)
            proc = subprocess.run([sys.executable, "-c", AGENT, str(sock)], capture_output=True, text=True,
                                  timeout=60, env=env)
        finally:
            server.stop()
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rec.asked == ["execute_code"]
    if approve:
        assert result == {"ok": "42\n"}
    else:
        assert "blocked" in result and "denied by test" in result["blocked"]
