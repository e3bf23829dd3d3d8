"""The approval-queue seam the tray app will use, and one client shared by many threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from airlock._approval_queue import ApprovalQueue
from airlock._client import Client, RemoteDecider
from airlock.audit import AuditLog, iter_records
from airlock.engine import Engine
from airlock.events import ApprovalDecision, BeforeToolEvent, Outcome, RiskLevel
from airlock.hooks import HookRegistry, HookResult
from airlock.server import Server
from tests.integration._server_util import wait_for

pytestmark = pytest.mark.timeout(60)


def _server(tmp: Path, queue: ApprovalQueue, hooks: HookRegistry | None = None) -> tuple[Server, AuditLog]:
    audit = AuditLog(tmp / "audit.jsonl")
    engine = Engine(hooks=hooks or HookRegistry(), audit=audit)
    return Server(engine, tmp / "run" / "airlock.sock", approver=queue).start(), audit


def test_gui_style_resolve_and_timeout(tmp_path: Path) -> None:
    queue = ApprovalQueue(None, timeout=1.0)  # nobody answers unless resolve() is called
    seen: list[tuple[str, str]] = []
    queue.add_listener(lambda what, item: seen.append((what, item.to_dict()["what"])))
    server, audit = _server(tmp_path, queue)
    try:
        d = RemoteDecider(Client(server.socket_path, agent_name="gui-test", timeout=0.5))
        out: dict = {}
        t = threading.Thread(target=lambda: out.setdefault("d", d.before_tool(
            BeforeToolEvent(tool_name="write_file", tool_input={"path": "/tmp/o", "content": "x"}))))
        t.start()
        assert wait_for(lambda: len(queue.pending()) == 1)
        pending = server.status()["pending"][0]
        assert pending["what"] == "write_file" and pending["agent"]["name"] == "gui-test"
        assert queue.resolve(pending["request_id"], ApprovalDecision(True, "user", "clicked Allow"))
        assert not queue.resolve(pending["request_id"], ApprovalDecision(False, "user", "too late"))
        t.join(5)
        assert out["d"].outcome is Outcome.APPROVED and out["d"].reason == "clicked Allow"
        # nobody answers: a timeout, denied (and the client waited past its own 0.5 s timeout)
        t0 = time.monotonic()
        late = d.before_tool(BeforeToolEvent(tool_name="write_file", tool_input={"path": "/tmp/p", "content": "y"}))
        assert late.outcome is Outcome.TIMEOUT and not late.allowed
        assert 0.9 < time.monotonic() - t0 < 3.0
        assert seen == [("added", "write_file"), ("removed", "write_file")] * 2
    finally:
        server.stop()
    assert [r["decision"] for r in iter_records(audit.path)] == ["approved", "timeout"]


def test_stop_denies_waiting_approvals(tmp_path: Path) -> None:
    queue = ApprovalQueue(None, timeout=30.0)
    server, audit = _server(tmp_path, queue)
    d = RemoteDecider(Client(server.socket_path, timeout=1.0))
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("d", d.before_tool(
        BeforeToolEvent(tool_name="slow", tool_input={}, risk=RiskLevel.CRITICAL))))
    t.start()
    assert wait_for(lambda: len(queue.pending()) == 1)
    server.stop()
    t.join(10)
    assert not out["d"].allowed
    recs = list(iter_records(audit.path))
    assert len(recs) == 1 and recs[0]["decision"] == "denied" and "stopping" in recs[0]["reason"]


def test_one_client_many_threads_answers_never_cross(tmp_path: Path) -> None:
    hooks = HookRegistry()
    # the hook rewrites each input, so a mixed-up answer would carry another call's marker
    hooks.add("before_tool", lambda ev: HookResult.modify({**ev.tool_input, "seen": ev.tool_input["marker"]}))
    server, audit = _server(tmp_path, ApprovalQueue(None, timeout=1.0), hooks)
    client = Client(server.socket_path, agent_name="shared")
    errors: list[str] = []

    def worker(i: int) -> None:
        d = RemoteDecider(client)
        for k in range(40):
            marker = f"{i}-{k}"
            dec = d.before_tool(BeforeToolEvent(tool_name="read_file", tool_input={"marker": marker}))
            if not dec.allowed or (dec.tool_input or {}).get("seen") != marker:
                errors.append(f"{marker}: {dec.outcome} {dec.tool_input}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        server.stop()
    assert not errors, errors[:5]
    recs = list(iter_records(audit.path))
    assert len(recs) == 16 * 40 and len({r["session_id"] for r in recs}) == 1


def test_forked_child_gets_its_own_connection(tmp_path: Path) -> None:
    import os

    server, audit = _server(tmp_path, ApprovalQueue(None, timeout=1.0))
    try:
        client = Client(server.socket_path, agent_name="forker")
        client.call("ping")  # the parent is connected before the fork
        parent_session = client.session_id
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                d = RemoteDecider(client)
                ok = d.before_tool(BeforeToolEvent(tool_name="read_file", tool_input={"p": "child"})).allowed
                os.write(wfd, f"{ok} {client.session_id}".encode())
            finally:
                os._exit(0)
        os.close(wfd)
        out = os.read(rfd, 1000).decode()
        os.close(rfd)
        os.waitpid(pid, 0)
        ok, child_session = out.split()
        assert ok == "True" and child_session != parent_session
        # the parent's connection still works and was not disturbed
        assert RemoteDecider(client).before_tool(BeforeToolEvent(tool_name="read_file", tool_input={})).allowed
        assert client.session_id == parent_session
    finally:
        server.stop()
    recs = list(iter_records(audit.path))
    assert len(recs) == 2 and recs[0]["agent"]["pid"] == pid and recs[1]["agent"]["pid"] == os.getpid()
