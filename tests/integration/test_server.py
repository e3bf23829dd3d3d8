"""The socket server with real sockets, a real engine and a real audit log."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from airlock import protocol as P
from airlock._client import NOT_RUNNING, Client, RemoteDecider
from airlock.audit import iter_records, verify
from airlock.events import BeforeToolEvent, Outcome, RiskLevel
from airlock.server import AlreadyRunning, Server, default_socket_path, probe
from tests.integration._server_util import Raw, make_server, tool_event, wait_for

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def srv(tmp_path: Path):
    server, audit, approver = make_server(tmp_path, frame_timeout=0.5)
    yield server, audit, approver
    approver.gate.set()
    server.stop()


def records(audit) -> list[dict]:
    return list(iter_records(audit.path))


def test_default_socket_under_runtime_dir_with_private_modes(tmp_path: Path) -> None:
    path = default_socket_path()
    assert path == Path(os.environ["XDG_RUNTIME_DIR"]) / "airlock" / "airlock.sock"
    server, _, _ = make_server(tmp_path, socket_path=None)
    try:
        assert server.socket_path == path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
        info = probe()
        assert info is not None and info["pid"] == os.getpid() and info["running"] is True
    finally:
        server.stop()
    assert not path.exists()
    assert probe() is None


def test_fallback_socket_dir_without_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert default_socket_path() == Path(f"/tmp/airlock-{os.getuid()}/airlock.sock")


def test_stale_socket_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "run" / "airlock.sock"
    path.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # a socket file nobody listens on: what a crash leaves behind
    dead.close()
    server, _, _ = make_server(tmp_path)
    try:
        assert probe(path) is not None
    finally:
        server.stop()


def test_second_instance_refuses_and_names_the_holder(srv, tmp_path: Path) -> None:
    server, _, _ = srv
    with pytest.raises(AlreadyRunning) as info:
        Server(server.engine, server.socket_path).start()
    assert info.value.pid == os.getpid() and str(os.getpid()) in str(info.value)
    assert probe(server.socket_path) is not None  # the first one is untouched


def test_regular_file_at_socket_path_is_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "run" / "airlock.sock"
    path.parent.mkdir(mode=0o700)
    path.write_text("precious")
    with pytest.raises(RuntimeError, match="not a socket"):
        make_server(tmp_path)
    assert path.read_text() == "precious"


def test_decisions_identity_and_audit_from_another_process(srv) -> None:
    server, audit, _ = srv
    code = (
        "import sys; from airlock._client import Client, RemoteDecider; from airlock.events import BeforeToolEvent\n"
        f"d = RemoteDecider(Client({str(server.socket_path)!r}, agent_name='proc-agent'))\n"
        "print(d.before_tool(BeforeToolEvent(tool_name='read_file', tool_input={'path': '/tmp/a'})).outcome.value)\n"
        "print(d.before_tool(BeforeToolEvent(tool_name='execute_command', tool_input={'cmd': 'ls'})).outcome.value)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'core'}"}
    p = subprocess.run([sys.executable, "-c", code, "MARKER-123"], capture_output=True, text=True, env=env,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["allowed", "denied"]
    recs = records(audit)
    assert [r["tool_name"] for r in recs] == ["read_file", "execute_command"]
    for r in recs:
        assert r["agent_name"] == "proc-agent"
        assert r["agent"]["pid"] != os.getpid() and r["agent"]["pid"] > 0
        assert r["agent"]["uid"] == os.getuid()
        assert "MARKER-123" in r["agent"]["cmdline"]
        assert r["agent"]["exe"] and os.path.basename(r["agent"]["exe"]).startswith("python")
        assert r["session_id"].startswith("s-")


def test_protocol_errors_keep_the_connection_healthy(srv) -> None:
    server, audit, _ = srv
    raw = Raw(server.socket_path)
    assert raw.call(1, "ping").ok
    r = raw.call(2, "before_tool", {"event": tool_event()})
    assert not r.ok and r.error_code == "hello_required"
    assert raw.hello().ok
    for frame, code in [
        (b"this is not json\n", "parse_error"),
        (b"[1,2,3]\n", "parse_error"),
        (b'{"id":5,"method":"format_disk"}\n', "unknown_method"),
        (b'{"id":6,"method":"before_tool","params":{"event":{"kind":"before_tool"}}}\n', "invalid_params"),
        (b'{"id":7,"method":"before_tool","params":{"event":{"kind":"after_tool","tool_name":"x"}}}\n',
         "invalid_params"),
        (b'{"id":8,"method":"before_tool","params":{"event":' + b"[" * 200 + b"]" * 200 + b"}}\n", "too_deep"),
        (b"\xff\xfe\xfd\n", "parse_error"),
    ]:
        raw.send(frame)
        r = raw.recv()
        assert not r.ok and r.error_code == code, (frame[:40], r)
    # oversized: 2 MiB in one line, then a normal request on the same connection
    raw.send(b'{"id":9,"method":"ping","params":{"x":"' + b"a" * (2 * P.MAX_FRAME) + b'"}}\n')
    r = raw.recv()
    assert not r.ok and r.error_code == "frame_too_large"
    r = raw.call(10, "before_tool", {"event": tool_event()})
    assert r.ok and r.result["decision"]["outcome"] == "allowed"
    raw.close()
    assert [x["tool_name"] for x in records(audit)] == ["read_file"]  # bad frames decided nothing


def test_half_frame_stall_times_out_without_hurting_others(tmp_path: Path) -> None:
    server, _, _ = make_server(tmp_path, frame_timeout=2.0)
    try:
        _half_frame(server)
    finally:
        server.stop()


def _half_frame(server: Server) -> None:
    staller = Raw(server.socket_path)
    staller.hello("staller")
    staller.send(b'{"id":1,"method":"before_tool","params":{"ev')  # half a frame, then silence
    client = Client(server.socket_path, agent_name="busy", timeout=2.0)
    lat = []
    for _ in range(30):
        t = time.perf_counter()
        client.call("before_tool", {"event": tool_event()})
        lat.append(time.perf_counter() - t)
    assert max(lat) < 1.0  # a blocked server would have held them for the 2 s frame timeout
    t = time.monotonic()
    r = staller.recv()
    assert not r.ok and r.error_code == "frame_timeout"
    with pytest.raises((EOFError, ConnectionError)):
        staller.recv()
    assert time.monotonic() - t < 4.0
    client.call("ping")  # still fine
    client.close()


def test_slow_approval_never_blocks_other_calls(srv) -> None:
    server, audit, approver = srv
    slow_client = Client(server.socket_path, agent_name="slow", timeout=1.0)
    result: dict = {}

    def slow_call() -> None:
        d = RemoteDecider(slow_client)
        result["d"] = d.before_tool(BeforeToolEvent(tool_name="slow_tool", tool_input={}, risk=RiskLevel.HIGH))

    t = threading.Thread(target=slow_call)
    t.start()
    assert wait_for(lambda: len(server.approvals.pending()) == 1)
    pend = server.status()["pending"]
    assert pend[0]["what"] == "slow_tool" and pend[0]["agent"]["name"] == "slow"
    # other agents, and the same agent from another thread, get policy decisions meanwhile
    other = RemoteDecider(Client(server.socket_path, agent_name="other"))
    same = RemoteDecider(slow_client)
    for d in (other, same):
        t0 = time.perf_counter()
        assert d.before_tool(BeforeToolEvent(tool_name="read_file", tool_input={"path": "/x"})).allowed
        assert time.perf_counter() - t0 < 1.0
    # the waiting call outlives the client's 1 s timeout because the server said a human is deciding
    time.sleep(1.5)
    assert t.is_alive()
    approver.gate.set()
    t.join(5)
    assert result["d"].outcome is Outcome.APPROVED
    assert server.approvals.pending() == []
    assert sorted(r["decision"] for r in records(audit)) == ["allowed", "allowed", "approved"]


def test_client_disconnect_mid_request_cancels_and_records(srv) -> None:
    server, audit, approver = srv
    raw = Raw(server.socket_path)
    raw.hello("leaver")
    raw.send(P.request(1, "before_tool", {"event": {**tool_event("slow_tool"), "risk": "high"}}))
    assert wait_for(lambda: len(server.approvals.pending()) == 1)
    raw.sock.close()  # gone while a human was being asked
    assert wait_for(lambda: not server.approvals.pending())
    assert wait_for(lambda: len(records(audit)) == 1)
    rec = records(audit)[0]
    assert rec["tool_name"] == "slow_tool" and rec["decision"] == "denied"
    assert "disconnected" in rec["reason"]
    assert Client(server.socket_path).call("ping")["pong"] is True


def test_fifty_concurrent_agents_nothing_lost(srv) -> None:
    server, audit, _ = srv
    n_agents, n_calls = 50, 20
    errors: list[str] = []
    barrier = threading.Barrier(n_agents)

    def agent(i: int) -> None:
        d = RemoteDecider(Client(server.socket_path, agent_name=f"agent-{i}"))
        barrier.wait()
        for k in range(n_calls):
            tool = "execute_command" if k % 5 == 0 else "read_file"
            dec = d.before_tool(BeforeToolEvent(tool_name=tool, tool_input={"path": f"/tmp/{i}/{k}"}))
            want = Outcome.DENIED if tool == "execute_command" else Outcome.ALLOWED
            if dec.outcome is not want:
                errors.append(f"{i}/{k}: {dec.outcome} {dec.reason}")
        d.client.close()

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(n_agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    recs = records(audit)
    assert len(recs) == n_agents * n_calls
    assert {r["agent_name"] for r in recs} == {f"agent-{i}" for i in range(n_agents)}
    assert len({r["session_id"] for r in recs}) == n_agents
    report = verify(audit.path)
    assert report.ok and report.records == n_agents * n_calls


def test_client_without_server_fails_secure_then_resumes(tmp_path: Path) -> None:
    path = tmp_path / "run" / "airlock.sock"
    client = Client(path, timeout=0.5)
    strict, lenient = RemoteDecider(client), RemoteDecider(client, on_unavailable="allow")
    t = time.perf_counter()
    high = lenient.before_tool(BeforeToolEvent(tool_name="execute_command", tool_input={"cmd": "ls"}))
    low_strict = strict.before_tool(BeforeToolEvent(tool_name="read_file", tool_input={"path": "/x"}))
    low_lenient = lenient.before_tool(BeforeToolEvent(tool_name="read_file", tool_input={"path": "/x"}))
    assert time.perf_counter() - t < 1.0  # three calls, none waited out its 0.5 s timeout
    assert high.outcome is Outcome.DENIED and NOT_RUNNING in high.reason
    assert low_strict.outcome is Outcome.DENIED and NOT_RUNNING in low_strict.reason
    assert low_lenient.outcome is Outcome.ALLOWED and "on_unavailable" in low_lenient.reason
    # fallback decisions are recorded locally when the agent process has an audit log
    from airlock.audit import AuditLog

    local = AuditLog(tmp_path / "local-audit.jsonl")
    recorded = RemoteDecider(client, audit=lambda: local)
    recorded.before_tool(BeforeToolEvent(tool_name="delete_file", tool_input={"path": "/x"}))
    (rec,) = list(iter_records(local.path))
    assert rec["decision"] == "denied" and rec["decided_by"] == "unavailable" and NOT_RUNNING in rec["reason"]
    server, _, _ = make_server(tmp_path)
    try:
        assert wait_for(lambda: strict.before_tool(
            BeforeToolEvent(tool_name="read_file", tool_input={"path": "/x"})).outcome is Outcome.ALLOWED, 5.0)
    finally:
        server.stop()


def test_peer_of_another_uid_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to run a client as nobody")
    import tempfile

    open_dir = Path(tempfile.mkdtemp(prefix="airlock-peer-test-", dir="/tmp"))
    os.chmod(open_dir, 0o755)  # test only: let 'nobody' reach the socket so the peer check is what stops it
    server, audit, _ = make_server(tmp_path, socket_path=open_dir / "airlock.sock")
    try:
        os.chmod(server.socket_path, 0o666)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: become nobody, connect, report what the server said
            try:
                os.close(rfd)
                os.setgid(65534)
                os.setuid(65534)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(str(server.socket_path))
                try:  # the server may already have refused and closed: that is fine
                    s.sendall(P.request(1, "hello", {"agent": "intruder", "protocol": 1}))
                except OSError:
                    pass
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                rest = s.recv(4096)
                os.write(wfd, data + (b"EOF" if rest == b"" else b"MORE"))
            except BaseException as exc:  # noqa: BLE001
                os.write(wfd, f"CHILD-ERROR {exc!r}".encode())
            finally:
                os._exit(0)
        os.close(wfd)
        out = b""
        while chunk := os.read(rfd, 65536):
            out += chunk
        os.close(rfd)
        os.waitpid(pid, 0)
        assert out.endswith(b"EOF"), out
        resp = P.parse_response(out[:-3])
        assert not resp.ok and resp.error_code == "unauthorized" and "65534" in resp.error_message
        assert server.sessions() == []
        alerts = [r for r in records(audit) if r["event"] == "security_alert"]
        assert len(alerts) == 1 and alerts[0]["agent"]["uid"] == 65534 and alerts[0]["decision"] == "blocked"
    finally:
        server.stop()
        for f in open_dir.iterdir():
            f.unlink()
        open_dir.rmdir()


def test_random_garbage_over_a_real_socket(srv) -> None:
    """2,000 mutated frames on one connection: exactly one structured answer each, server healthy."""
    import random

    server, _, _ = srv
    rng = random.Random(7)
    seeds = [P.request(1, "ping"), P.request("x", "before_tool", {"event": tool_event()}),
             P.request(2, "hello", {"agent": "fuzz", "protocol": 1})]
    raw = Raw(server.socket_path)
    codes: set[str] = set()
    for i in range(2000):
        data = bytearray(rng.choice(seeds).rstrip(b"\n"))
        for _ in range(rng.randint(0, 4)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        data = bytearray(data.replace(b"\n", b""))
        if not bytes(data).strip():
            continue
        raw.send(bytes(data) + b"\n")
        r = raw.recv()
        while r.notice:
            r = raw.recv()
        codes.add("ok" if r.ok else r.error_code)
        assert r.ok or r.error_code in P.ERROR_CODES
    assert "parse_error" in codes and len(codes) >= 3
    assert raw.call("last", "ping").ok
    assert Client(server.socket_path).call("ping")["pong"] is True


def test_foreign_live_listener_is_never_removed(tmp_path: Path) -> None:
    path = tmp_path / "run" / "airlock.sock"
    path.parent.mkdir(mode=0o700)
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(path))
    other.listen(1)  # alive, but not Airlock
    try:
        assert probe(path, timeout=0.3) is None
        with pytest.raises(AlreadyRunning) as info:
            make_server(tmp_path)
        assert info.value.pid == os.getpid()
        assert path.exists()
    finally:
        other.close()


def test_connection_limit_answers_busy(tmp_path: Path) -> None:
    server, _, _ = make_server(tmp_path, max_connections=2)
    try:
        a, b = Raw(server.socket_path), Raw(server.socket_path)
        assert a.hello("a").ok and b.hello("b").ok
        c = Raw(server.socket_path)
        r = c.recv()
        assert not r.ok and r.error_code == "busy"
        a.close()
        assert wait_for(lambda: len(server.status()["agents"]) == 1)
        d = Raw(server.socket_path)
        assert d.hello("d").ok
        assert sorted(x["name"] for x in server.sessions()) == ["b", "d"]
    finally:
        server.stop()
