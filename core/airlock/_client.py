"""The socket client: pure standard library, thread-safe, one persistent connection.

Several threads may call at once; requests are multiplexed by id over the one connection.
Whichever waiting thread finds nobody reading becomes the reader for a while (no extra
thread, no hand-off on the single-threaded path). A call never waits longer than its
timeout without word from the server; ``approval_pending`` notices extend it to the
approval timeout, because a human is deciding. Connection failures back off (50 ms
doubling to 2 s) so a dead server costs a failed ``connect`` now and then, not a hang.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

from . import protocol as P
from .events import (
    Action,
    AfterToolEvent,
    AnyEvent,
    AuditRecord,
    BeforeAgentEvent,
    BeforeToolEvent,
    Decision,
    Outcome,
    RiskLevel,
    Verdict,
    decision_from_dict,
)

__all__ = ["Client", "RemoteDecider", "Unavailable", "RemoteError", "NOT_RUNNING"]

log = logging.getLogger("airlock.client")

NOT_RUNNING = "Airlock is not running"


class Unavailable(ConnectionError):
    """No answer from the server: absent, dead, or silent past the timeout."""


class RemoteError(RuntimeError):
    """The server answered with a structured error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Client:
    def __init__(self, socket_path: str | os.PathLike[str] | None = None, *, agent_name: str = "agent",
                 timeout: float = 5.0, approval_timeout: float = 300.0, connect_timeout: float = 1.0,
                 capabilities: tuple[str, ...] = ("approval_pending",)) -> None:
        if socket_path is None:
            from ._dirs import runtime_dir

            socket_path = runtime_dir() / "airlock.sock"
        self.socket_path = Path(socket_path)
        self.agent_name = agent_name
        self.timeout, self.approval_timeout, self.connect_timeout = timeout, approval_timeout, connect_timeout
        self.capabilities = capabilities
        self.session_id = ""
        self.server_info: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._init_state()

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._conn_lock = threading.Lock()   # connect / disconnect
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()   # waiters, results, reader election
        self._sock: socket.socket | None = None
        self._gen = 0                        # bumps on every (dis)connect; stale readers notice
        self._reader = P.FrameReader()
        self._reading = False
        self._results: dict[Any, P.Response] = {}
        self._waiting: dict[Any, int] = {}   # id -> connection generation it was sent on
        self._extended: dict[Any, float] = {}
        self._next_try = 0.0
        self._backoff = 0.05
        self._closed = False

    def _after_fork(self) -> None:
        """A forked child must not share the parent's connection (answers would cross): drop our
        copy without shutting it down (that would cut the parent off too) and start afresh."""
        sock = self._sock
        self._init_state()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    # ------------------------------------------------------------------ connection
    @property
    def connected(self) -> bool:
        return self._sock is not None

    def _ensure(self, deadline: float) -> tuple[socket.socket, int]:
        with self._conn_lock:
            if self._sock is not None:
                return self._sock, self._gen
            if self._closed:
                raise Unavailable(f"{NOT_RUNNING} (client closed)")
            now = time.monotonic()
            if now < self._next_try:
                raise Unavailable(f"{NOT_RUNNING} (no server at {self.socket_path}; retrying in "
                                  f"{self._next_try - now:.2f} s)")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(max(0.001, min(self.connect_timeout, deadline - now)))
            try:
                s.connect(str(self.socket_path))
                s.settimeout(None)
                hello = P.request(0, "hello", {"agent": self.agent_name, "pid": os.getpid(),
                                               "protocol": P.PROTOCOL_VERSION,
                                               "capabilities": list(self.capabilities)})
                s.settimeout(max(0.001, deadline - time.monotonic()))
                s.sendall(hello)
                resp = self._read_one(s, deadline)
            except (OSError, P.ProtocolError) as exc:
                s.close()
                self._next_try = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, 2.0)
                raise Unavailable(f"{NOT_RUNNING} (cannot reach {self.socket_path}: {exc})") from None
            if not resp.ok or resp.result is None:
                s.close()
                self._next_try = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, 2.0)
                raise RemoteError(resp.error_code or "invalid_request", resp.error_message or "hello refused")
            s.settimeout(None)
            self._backoff = 0.05
            self.server_info = resp.result
            self.session_id = str(resp.result.get("session_id", ""))
            with self._cond:
                self._gen += 1
                self._sock = s
                self._reader = P.FrameReader()
            return s, self._gen

    def _read_one(self, s: socket.socket, deadline: float) -> P.Response:
        """The hello's answer (nothing else is in flight on a fresh connection)."""
        reader = P.FrameReader()
        while True:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            data = s.recv(P.RECV_CHUNK)
            if not data:
                raise OSError("the server closed the connection")
            for item in reader.feed(data):
                if isinstance(item, P.ProtocolError):
                    raise item
                r = P.parse_response(item)
                if r.notice:
                    continue
                return r

    def _drop(self, gen: int, why: str) -> None:
        """Forget connection ``gen``; fail every call still waiting on it."""
        with self._conn_lock:
            with self._cond:
                if gen != self._gen or self._sock is None:
                    return
                s, self._sock = self._sock, None
                self._gen += 1
                for rid, g in list(self._waiting.items()):
                    if g == gen and rid not in self._results:
                        self._results[rid] = P.Response(rid, False, error_code="unavailable",
                                                        error_message=why)
                self._cond.notify_all()
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def close(self) -> None:
        self._closed = True
        with self._cond:
            gen = self._gen
        self._drop(gen, "client closed")

    def reset_backoff(self) -> None:
        with self._conn_lock:
            self._next_try, self._backoff = 0.0, 0.05

    # ------------------------------------------------------------------- calling
    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> dict:
        """Send one request, wait for its answer. Raises ``Unavailable`` or ``RemoteError``."""
        if self._pid != os.getpid():
            self._after_fork()
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        rid = next(self._ids)
        frame = P.request(rid, method, params)  # may raise ProtocolError(frame_too_large)
        for attempt in (0, 1):
            sock, gen = self._ensure(deadline)
            with self._cond:
                self._waiting[rid] = gen
            try:
                with self._send_lock:
                    sock.settimeout(max(0.001, deadline - time.monotonic()))
                    sock.sendall(frame)
                break
            except OSError as exc:  # the server went away since the last call: one fresh try
                with self._cond:
                    self._waiting.pop(rid, None)
                self._drop(gen, f"send failed: {exc}")
                if attempt == 1 or isinstance(exc, socket.timeout):
                    raise Unavailable(f"{NOT_RUNNING} (send failed: {exc})") from None
        try:
            resp = self._await(rid, gen, deadline)
        finally:
            with self._cond:
                self._waiting.pop(rid, None)
                self._results.pop(rid, None)
                self._extended.pop(rid, None)
        if resp.ok and resp.result is not None:
            return resp.result
        if resp.error_code == "unavailable":
            raise Unavailable(f"{NOT_RUNNING} ({resp.error_message})")
        raise RemoteError(resp.error_code, resp.error_message)

    def _await(self, rid: int, gen: int, deadline: float) -> P.Response:
        while True:
            with self._cond:
                while True:
                    if rid in self._results:
                        return self._results.pop(rid)
                    deadline = self._extended.get(rid, deadline)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Unavailable(f"{NOT_RUNNING} (no answer within the timeout)")
                    if not self._reading:
                        self._reading = True
                        sock, cur_gen = self._sock, self._gen
                        break
                    self._cond.wait(left)
            try:
                if sock is None or cur_gen != gen:
                    raise Unavailable(f"{NOT_RUNNING} (the connection was lost)")
                self._read_some(sock, cur_gen, left)
            finally:
                with self._cond:
                    self._reading = False
                    self._cond.notify_all()

    def _read_some(self, sock: socket.socket, gen: int, wait: float) -> None:
        """Read what arrives within ``wait`` seconds and file each answer under its id."""
        import select

        try:
            ready, _, _ = select.select([sock], [], [], max(0.0, wait))
            if not ready:
                return
            data = sock.recv(P.RECV_CHUNK)
        except (OSError, ValueError) as exc:
            self._drop(gen, f"receive failed: {exc}")
            return
        if not data:
            self._drop(gen, "the server closed the connection")
            return
        with self._cond:
            items = self._reader.feed(data)
            for item in items:
                if isinstance(item, P.ProtocolError):
                    continue
                try:
                    r = P.parse_response(item)
                except P.ProtocolError:
                    continue
                if r.notice == "approval_pending" and r.id in self._waiting:
                    self._extended[r.id] = time.monotonic() + self.approval_timeout
                elif r.notice:
                    continue
                elif r.id is None and not r.ok:  # connection-level error (shutting_down, frame_timeout...)
                    for rid, g in self._waiting.items():
                        if g == gen and rid not in self._results:
                            self._results[rid] = P.Response(rid, False, error_code="unavailable",
                                                            error_message=f"{r.error_code}: {r.error_message}")
                elif r.id in self._waiting:
                    self._results[r.id] = r


def _risk_for(event: AnyEvent) -> RiskLevel:
    if isinstance(event, BeforeAgentEvent):
        return RiskLevel.NONE
    declared = getattr(event, "risk", None)
    try:
        from .policy import RISK_MATRIX

        table = RISK_MATRIX.get(event.tool_name, RiskLevel.MEDIUM)
    except Exception:
        table = RiskLevel.MEDIUM
    return table if declared is None else max(declared, table)


class RemoteDecider:
    """The engine's ``Decider`` protocol, answered by the server.

    Server unreachable (absent, died mid-call, silent past the timeout): CRITICAL/HIGH calls
    are denied with ``"Airlock is not running"``; lower-risk calls follow ``on_unavailable``
    (``"deny"`` or ``"allow"``). Any server-side error is a denial. Fallback decisions are
    recorded in the local audit log when ``audit()`` returns one.
    """

    def __init__(self, client: Client, *, on_unavailable: str = "deny",
                 audit: Callable[[], Any] | None = None) -> None:
        if on_unavailable not in ("deny", "allow"):
            raise ValueError("on_unavailable must be 'deny' or 'allow'")
        self.client = client
        self.on_unavailable = on_unavailable
        self._audit = audit

    def before_agent(self, event: BeforeAgentEvent) -> Decision:
        return self._ask("before_agent", event)

    def before_tool(self, event: BeforeToolEvent) -> Decision:
        return self._ask("before_tool", event)

    def after_tool(self, event: AfterToolEvent) -> Decision:
        return self._ask("after_tool", event)

    def _ask(self, method: str, event: AnyEvent) -> Decision:
        try:
            result = self.client.call(method, {"event": event.to_dict()})
            return decision_from_dict(result["decision"])
        except Unavailable as exc:
            return self._fallback(event, str(exc), unavailable=True)
        except RemoteError as exc:
            return self._fallback(event, f"Airlock refused the call ({exc.code}: {exc.message})", unavailable=False)
        except P.ProtocolError as exc:
            return self._fallback(event, f"the call could not be sent to Airlock ({exc.message})", unavailable=False)
        except Exception as exc:  # a bad answer: never allow on confusion
            return self._fallback(event, f"unreadable answer from Airlock ({type(exc).__name__}: {exc})",
                                  unavailable=False)

    def _fallback(self, event: AnyEvent, why: str, *, unavailable: bool) -> Decision:
        risk = _risk_for(event)
        allow = unavailable and not risk.needs_approval and self.on_unavailable == "allow"
        if allow:
            reason = f"{why}; allowed because on_unavailable='allow' and the call is {risk.name.lower()}-risk"
            outcome, action = Outcome.ALLOWED, Action.ALLOW
        else:
            reason = why if why.startswith(NOT_RUNNING) or not unavailable else f"{NOT_RUNNING}: {why}"
            reason = f"denied: {reason}"
            outcome, action = Outcome.DENIED, Action.BLOCK
        decided_by = "unavailable" if unavailable else "remote_error"
        decision = Decision(outcome, reason, decided_by, Verdict(action, reason, decided_by, risk=risk),
                            getattr(event, "tool_input", None))
        audit = self._audit() if self._audit is not None else None
        if audit is not None:
            try:
                audit.append(AuditRecord.from_decision(event, decision))
            except Exception:
                log.exception("local audit append failed")
                if decision.allowed:
                    return Decision(Outcome.BLOCKED, "blocked: the local audit log could not be written",
                                    "audit", decision.verdict, decision.tool_input)
        return decision
