"""Helpers for the socket-server tests: a real engine, a real server, raw socket access."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from airlock import protocol as P
from airlock.audit import AuditLog
from airlock.engine import Engine
from airlock.events import ApprovalDecision, ApprovalRequest
from airlock.hooks import HookRegistry
from airlock.injection import Scanner
from airlock.server import Server


class GateApprover:
    """Approves ``gated`` tools only when the test opens the gate; everything else is denied at once.

    A stand-in for a human who takes their time; it is a real ``Approver`` on the real path.
    """

    def __init__(self, gated: str = "slow_tool") -> None:
        self.gated = gated
        self.gate = threading.Event()
        self.asked: list[ApprovalRequest] = []

    def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        self.asked.append(request)
        if getattr(request.event, "tool_name", None) == self.gated:
            if self.gate.wait(30):
                return ApprovalDecision(True, "user", "approved after a while")
            return ApprovalDecision(False, "timeout", "no answer", timed_out=True)
        return ApprovalDecision(False, "user", "denied by the test approver")


def make_server(tmp: Path, **kw: Any) -> tuple[Server, AuditLog, GateApprover]:
    audit = AuditLog(tmp / "audit.jsonl")
    approver = GateApprover()
    engine = Engine(hooks=HookRegistry(), scanner=Scanner(), audit=audit, approver=approver)
    server = Server(engine, kw.pop("socket_path", tmp / "run" / "airlock.sock"), **kw)
    return server.start(), audit, approver


class Raw:
    """A raw socket speaking frames by hand (for malformed input and precise fault timing)."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.reader = P.FrameReader()
        self.queue: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> P.Response:
        while not self.queue:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("server closed the connection")
            for item in self.reader.feed(data):
                assert isinstance(item, bytes), item
                self.queue.append(item)
        return P.parse_response(self.queue.pop(0))

    def call(self, rid: Any, method: str, params: dict | None = None) -> P.Response:
        self.send(P.request(rid, method, params))
        while True:
            r = self.recv()
            if not r.notice:
                return r

    def hello(self, name: str = "raw") -> P.Response:
        return self.call("h", "hello", {"agent": name, "protocol": 1, "capabilities": []})

    def close(self) -> None:
        self.sock.close()


def tool_event(tool: str = "read_file", **inp: Any) -> dict:
    return {"kind": "before_tool", "tool_name": tool, "tool_input": inp or {"path": "/tmp/x"}}


def wait_for(pred: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False
