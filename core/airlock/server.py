"""The local socket server: agents in other processes ask it, the engine decides.

One reader thread per connection parses frames and runs each request inline (no thread
hand-off on the fast path). A call that must wait for a human first hands the reading over
to a fresh thread, so an approval blocks only that one call, never the policy decisions of
the agent's other calls or of other agents. The server adds no decision logic of its own:
it rebuilds events, stamps them with the kernel-verified peer identity and hands them to
``engine``. Everything that goes wrong ends as a structured error (the client treats it as
a denial for risky calls) and, where a call was involved, as an audit record.
"""

from __future__ import annotations

import errno
from collections import deque
import fcntl
import logging
import os
import secrets
import select
import socket
import stat
import struct
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import _dirs
from . import protocol as P
from ._approval_queue import ApprovalQueue
from ._peer import PeerCred, check_peer, peer_credentials, process_cmdline, process_exe
from .approval import Approver
from .events import (
    Action,
    AgentIdentity,
    AuditRecord,
    Decision,
    Outcome,
    RiskLevel,
    Verdict,
    decision_to_dict,
    event_from_dict,
    utc_iso,
)

__all__ = ["Server", "AlreadyRunning", "default_socket_path", "probe"]

log = logging.getLogger("airlock.server")

_EVENT_METHODS = ("before_agent", "before_tool", "after_tool")


def default_socket_path() -> Path:
    """``$XDG_RUNTIME_DIR/airlock/airlock.sock``, else ``/tmp/airlock-<uid>/airlock.sock``."""
    return _dirs.runtime_dir() / "airlock.sock"


class AlreadyRunning(RuntimeError):
    """Another server holds the socket. ``pid`` names it when known."""

    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"Airlock is already running: {who} holds {path}")
        self.path, self.pid = path, pid


def probe(path: str | os.PathLike[str] | None = None, timeout: float = 1.0) -> dict[str, Any] | None:
    """Ask whoever listens at ``path`` for its status. None if nobody answers like Airlock does."""
    p = Path(path) if path is not None else default_socket_path()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(p))
        pid = peer_credentials(s).pid
        s.sendall(P.request("probe", "status"))
        reader, deadline = P.FrameReader(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = s.recv(P.RECV_CHUNK)
            if not data:
                return None
            for item in reader.feed(data):
                if isinstance(item, bytes):
                    r = P.parse_response(item)
                    if r.id == "probe" and r.ok and r.result is not None:
                        return {**r.result, "peer_pid": pid}
                    if r.id == "probe":
                        return None
        return None
    except (OSError, P.ProtocolError):
        return None
    finally:
        s.close()


@dataclass(slots=True)
class _Conn:
    sock: socket.socket
    cred: PeerCred
    identity: AgentIdentity
    conn_id: int
    connected: float = field(default_factory=time.time)
    hello: bool = False
    capabilities: tuple[str, ...] = ()
    requests: int = 0
    inflight: int = 0
    closed: bool = False
    wlock: threading.Lock = field(default_factory=threading.Lock)
    # read state: owned by exactly one reader thread at a time (handed over on a blocking approval)
    frames: P.FrameReader = field(default_factory=P.FrameReader)
    backlog: deque = field(default_factory=deque)
    partial_since: float | None = None

    def send(self, frame: bytes) -> bool:
        with self.wlock:
            if self.closed:
                return False
            try:
                self.sock.sendall(frame)
                return True
            except OSError:
                self.closed = True
                _shutdown(self.sock)
                return False

    def to_dict(self) -> dict[str, Any]:
        return {**self.identity.to_dict(), "connected": self.connected, "requests": self.requests,
                "inflight": self.inflight, "capabilities": list(self.capabilities)}


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Server:
    """``Server(engine).start()``; ``stop()``. ``serve_forever()`` blocks until ``stop()``.

    ``approver`` answers what needs a human (default: the engine's approver); it sits behind
    ``self.approvals`` (an ``ApprovalQueue``) so waiting requests are listable and a GUI can
    later swap ``approvals.inner`` or answer with ``approvals.resolve``.
    """

    def __init__(self, engine: Any, socket_path: str | os.PathLike[str] | None = None,
                 approver: Approver | None = None, *, frame_timeout: float = 5.0, write_timeout: float = 5.0,
                 max_connections: int = 512, approval_timeout: float = 120.0, secrets: Any = None) -> None:
        self.engine = engine
        self.secrets = secrets  # a SecretBroker for get_secret; None: the user's key store, opened on first use
        self._default_path = socket_path is None
        self.socket_path = Path(socket_path) if socket_path is not None else default_socket_path()
        if isinstance(approver, ApprovalQueue):
            self.approvals = approver
        else:
            self.approvals = ApprovalQueue(approver if approver is not None else engine.approver,
                                           timeout=approval_timeout)
        self.frame_timeout, self.write_timeout = float(frame_timeout), float(write_timeout)
        self.max_connections = max_connections
        self.started: float | None = None
        self._listener: socket.socket | None = None
        self._lock_fd = -1
        self._sock_ino: tuple[int, int] | None = None
        self._conns: dict[int, _Conn] = {}
        self._conns_lock = threading.Lock()
        self._next_id = 0
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._saved_approver: Any = None
        self._tls = threading.local()
        self.approvals.add_listener(self._on_approval)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Server":
        if self._listener is not None:
            return self
        path = self.socket_path
        if self._default_path:
            _dirs.ensure_private_dir(path.parent)
        elif not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
        self._take_lock(path)
        try:
            self._clear_stale(path)
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                ls.bind(str(path))
                os.chmod(path, 0o600)
                ls.listen(128)
            except OSError:
                ls.close()
                raise
            st = os.stat(path)
            self._sock_ino = (st.st_dev, st.st_ino)
            ls.settimeout(0.25)
        except BaseException:
            self._release_lock()
            raise
        self._listener = ls
        self._saved_approver = getattr(self.engine, "_approver", None)
        self.engine.approver = self.approvals
        self.started = time.time()
        self._stopping.clear()
        self._stopped.clear()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="airlock-accept", daemon=True)
        self._accept_thread.start()
        log.info("Airlock listening on %s", path)
        return self

    def serve_forever(self) -> None:
        self.start()
        while not self._stopped.wait(0.5):
            pass

    def stop(self, timeout: float = 5.0) -> None:
        if self._listener is None:
            return
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        try:
            self._listener.close()
        except OSError:
            pass
        self.approvals.cancel(lambda _p: True, "the Airlock server is stopping")
        with self._conns_lock:
            conns = list(self._conns.values())
        for c in conns:
            c.send(P.error_response(None, "shutting_down", "the Airlock server is stopping"))
            _shutdown(c.sock)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._conns_lock:
                if not self._conns and not any(c.inflight for c in conns):
                    break
            time.sleep(0.01)
        self._unlink_socket()
        self._release_lock()
        if getattr(self.engine, "_approver", None) is self.approvals:
            self.engine.approver = self._saved_approver
        self._listener = None
        self._stopped.set()
        log.info("Airlock server stopped")

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._listener is not None and not self._stopping.is_set()

    # ------------------------------------------------------------- single instance
    def _lock_path(self, path: Path) -> Path:
        return path.with_name(path.name + ".lock")

    def _take_lock(self, path: Path) -> None:
        fd = os.open(self._lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = None
            try:
                holder = int(os.pread(fd, 32, 0).decode("ascii", "replace").strip() or 0) or None
            except (OSError, ValueError):
                pass
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(path, holder) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd >= 0:
            try:
                os.ftruncate(self._lock_fd, 0)
                os.close(self._lock_fd)
            except OSError:
                pass
            self._lock_fd = -1

    def _clear_stale(self, path: Path) -> None:
        """Remove a socket file nobody listens on (a crash leftover). A live listener, Airlock
        or not, is never removed: we refuse and name its pid. A non-socket is never removed."""
        if not os.path.lexists(path):
            return
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise RuntimeError(f"{path} exists and is not a socket; refusing to remove it")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect(str(path))
            try:
                holder: int | None = peer_credentials(s).pid
            except OSError:
                holder = None
            raise AlreadyRunning(path, holder)
        except (ConnectionRefusedError, FileNotFoundError):
            pass  # nobody listens: stale
        except socket.timeout:
            raise AlreadyRunning(path, None) from None  # a listener with a full backlog is alive
        finally:
            s.close()
        log.warning("removing stale socket %s", path)
        os.unlink(path)

    def _unlink_socket(self) -> None:
        try:
            st = os.stat(self.socket_path)
            if (st.st_dev, st.st_ino) == self._sock_ino:
                os.unlink(self.socket_path)
        except OSError:
            pass

    # ---------------------------------------------------------------- connections
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    break
                log.warning("accept failed: %s", exc)
                time.sleep(0.05)
                continue
            try:
                self._admit(sock)
            except Exception:
                log.exception("could not admit a connection")
                sock.close()

    def _admit(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        tv = struct.pack("ll", int(self.write_timeout), int((self.write_timeout % 1) * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        try:
            cred: PeerCred | None = peer_credentials(sock)
        except OSError:
            cred = None
        refusal = check_peer(cred)
        if refusal is not None or cred is None:
            self._refuse(sock, cred, refusal or "no peer credentials")
            return
        with self._conns_lock:
            if len(self._conns) >= self.max_connections:
                full = True
            else:
                full = False
                self._next_id += 1
                identity = AgentIdentity(name="unknown", pid=cred.pid, exe=process_exe(cred.pid),
                                         cmdline=process_cmdline(cred.pid), uid=cred.uid, session_id="")
                conn = _Conn(sock, cred, identity, self._next_id)
                self._conns[conn.conn_id] = conn
        if full:
            frame = P.error_response(None, "busy", f"too many connections ({self.max_connections}); treat as denied")
            threading.Thread(target=self._say_and_close, args=(sock, frame), daemon=True).start()
            return
        threading.Thread(target=self._reader, args=(conn,), name=f"airlock-conn-{conn.conn_id}",
                         daemon=True).start()

    def _refuse(self, sock: socket.socket, cred: PeerCred | None, why: str) -> None:
        log.warning("refused a connection: %s", why)
        threading.Thread(target=self._say_and_close, args=(sock, P.error_response(None, "unauthorized", why)),
                         name="airlock-refuse", daemon=True).start()
        agent = {"pid": cred.pid if cred else None, "uid": cred.uid if cred else None,
                 "exe": process_exe(cred.pid) if cred else "", "cmdline": process_cmdline(cred.pid) if cred else ""}
        self._audit(AuditRecord(timestamp=utc_iso(), session_id="", agent_name="unknown", tool_name=None,
                                tool_input=None, execution_time_ms=None, error=None, event="security_alert",
                                decision=Outcome.BLOCKED.value, decided_by="peer_check", threat_level="HIGH",
                                reason=f"connection refused: {why}", agent=agent))

    @staticmethod
    def _say_and_close(sock: socket.socket, frame: bytes) -> None:
        """Send a last error frame, then drain what the peer already sent (briefly) before
        closing: closing with unread input would reset the connection and lose the message."""
        try:
            sock.settimeout(0.5)
            sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)
            end = time.monotonic() + 0.5
            got = 0
            while time.monotonic() < end and got < 1 << 20:
                chunk = sock.recv(P.RECV_CHUNK)
                if not chunk:
                    break
                got += len(chunk)
        except OSError:
            pass
        finally:
            sock.close()

    def _audit(self, record: AuditRecord) -> None:
        audit = getattr(self.engine, "audit", None)
        if audit is None:
            return
        try:
            audit.append(record)
        except Exception:
            log.exception("audit append failed for %s", record.event)

    def _reader(self, conn: _Conn) -> None:
        """Read and handle this connection's frames, inline (no hand-off on the fast path).

        A call that must wait for a human hands the reading over to a fresh thread first
        (see ``_on_approval``), so the agent's other calls keep flowing.
        """
        tls = self._tls
        tls.conn, tls.handed_off = conn, False
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN | select.POLLHUP | select.POLLERR)
        try:
            while True:
                while conn.backlog:
                    item = conn.backlog.popleft()
                    if isinstance(item, P.ProtocolError):
                        conn.send(item.to_frame())
                    else:
                        self._dispatch(conn, item)
                    if tls.handed_off:
                        return  # another thread reads this connection now
                if self._stopping.is_set() or conn.closed:
                    break
                if conn.partial_since is None:
                    wait_ms = 1000  # idle: wake now and then to notice stop()
                else:
                    left = conn.partial_since + self.frame_timeout - time.monotonic()
                    if left <= 0:
                        conn.send(P.error_response(None, "frame_timeout",
                                                   f"incomplete frame for {self.frame_timeout:g} s; closing"))
                        break
                    wait_ms = max(1, int(left * 1000) + 1)
                if not poller.poll(wait_ms):
                    continue
                try:
                    data = conn.sock.recv(P.RECV_CHUNK)
                except OSError:
                    break
                if not data:
                    break
                items = conn.frames.feed(data)
                if not conn.frames.partial:
                    conn.partial_since = None
                elif items or conn.partial_since is None:
                    conn.partial_since = time.monotonic()
                conn.backlog.extend(items)
        except Exception:
            log.exception("connection %d failed", conn.conn_id)
        finally:
            if not tls.handed_off:
                self._close(conn)
            tls.conn = None

    def _close(self, conn: _Conn) -> None:
        with conn.wlock:
            conn.closed = True
        _shutdown(conn.sock)
        try:
            conn.sock.close()
        except OSError:
            pass
        with self._conns_lock:
            self._conns.pop(conn.conn_id, None)
        sid = conn.identity.session_id
        if sid:
            self.approvals.cancel(lambda p: p.request.event.agent.session_id == sid,
                                  "the agent disconnected while waiting for approval")

    # ------------------------------------------------------------------- requests
    def _dispatch(self, conn: _Conn, frame: bytes) -> None:
        try:
            req = P.parse_request(frame)
        except P.ProtocolError as exc:
            conn.send(exc.to_frame())
            return
        conn.requests += 1
        if req.method == "ping":
            conn.send(P.response(req.id, {"pong": True, "time": time.time()}))
            return
        if req.method == "hello":
            conn.send(self._hello(conn, req))
            return
        if req.method == "status":
            conn.send(P.response(req.id, self.status()))
            return
        if not conn.hello:
            conn.send(P.error_response(req.id, "hello_required", "send hello before any event"))
            return
        with self._conns_lock:
            conn.inflight += 1
        self._run_event(conn, req)

    def _hello(self, conn: _Conn, req: P.Request) -> bytes:
        p = req.params
        version = p.get("protocol", P.PROTOCOL_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version != P.PROTOCOL_VERSION:
            return P.error_response(req.id, "unsupported_version",
                                    f"client speaks protocol {version!r}; this server speaks {P.PROTOCOL_VERSION}")
        name = p.get("agent", "")
        caps = p.get("capabilities", [])
        if not isinstance(name, str) or not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            return P.error_response(req.id, "invalid_params", "agent must be a string, capabilities a list of strings")
        claimed = p.get("pid")
        if claimed is not None and claimed != conn.cred.pid:
            log.info("agent %r claims pid %r; the kernel says %d", name, claimed, conn.cred.pid)
        if not conn.identity.session_id:
            conn.identity.session_id = "s-" + secrets.token_hex(8)
        conn.identity.name = name.strip()[:200] or f"pid-{conn.cred.pid}"
        conn.capabilities = tuple(c[:64] for c in caps[:32])
        conn.hello = True
        from . import __version__

        return P.response(req.id, {
            "session_id": conn.identity.session_id, "protocol": P.PROTOCOL_VERSION, "server": "airlock",
            "version": __version__, "server_pid": os.getpid(), "methods": sorted(P.METHODS),
            "max_frame": P.MAX_FRAME, "capabilities": ["approval_pending"],
            "agent": conn.identity.to_dict()})

    def _run_event(self, conn: _Conn, req: P.Request) -> None:
        try:
            if req.method == "get_secret":
                from ._secret_service import answer

                conn.send(answer(self, conn, req))
                return
            conn.send(self._decide(conn, req))
        finally:
            with self._conns_lock:
                conn.inflight -= 1

    def _decide(self, conn: _Conn, req: P.Request) -> bytes:
        raw = req.params.get("event")
        try:
            if not isinstance(raw, dict):
                raise TypeError("params.event must be an object")
            event = event_from_dict(raw)
            if event.kind.value != req.method:
                raise ValueError(f"event kind {event.kind.value!r} does not match method {req.method!r}")
        except Exception as exc:
            return P.error_response(req.id, "invalid_params", f"bad event: {type(exc).__name__}: {str(exc)[:300]}")
        claimed = event.agent.name
        event.agent = replace(conn.identity, name=claimed if claimed not in ("", "local", "unknown")
                              else conn.identity.name)
        self._tls.call = (conn, req.id)
        try:
            decision = getattr(self.engine, req.method)(event)
            if not isinstance(decision, Decision):
                raise TypeError(f"engine returned {type(decision).__name__}")
        except Exception as exc:  # the engine fails secure itself; this is the last net
            log.exception("engine failed on %s", req.method)
            reason = f"Airlock failed on this call ({type(exc).__name__}: {exc}); denied to be safe"
            verdict = Verdict(Action.BLOCK, reason, "error", risk=getattr(event, "risk", None) or RiskLevel.MEDIUM)
            decision = Decision(Outcome.BLOCKED, reason, "error", verdict, None)
            self._audit(AuditRecord.from_decision(event, decision))
        finally:
            self._tls.call = None
        wire = decision_to_dict(decision)
        if decision.verdict.modified_input is None:
            wire["tool_input"] = None  # the client keeps its own copy; only a hook's change travels back
        try:
            return P.response(req.id, {"decision": wire})
        except P.ProtocolError:
            wire["tool_input"] = wire["verdict"]["modified_input"] = None
            if decision.verdict.modified_input is not None:
                reason = "the modified tool input is too large to send back; denied"
                wire.update(outcome=Outcome.BLOCKED.value, reason=reason, decided_by="error")
            return P.response(req.id, {"decision": wire})

    def _on_approval(self, what: str, item: Any) -> None:
        """A call on this thread is about to wait for a human: tell the agent, and if this thread
        is the connection's reader, hand reading over to a new thread before blocking."""
        call = getattr(self._tls, "call", None)
        if what != "added" or call is None:
            return
        conn, rid = call
        conn.send(P.notification(rid, "approval_pending", {"request_id": item.request_id,
                                                           "timeout": self.approvals.timeout}))
        if getattr(self._tls, "conn", None) is conn and not self._tls.handed_off:
            self._tls.handed_off = True
            threading.Thread(target=self._reader, args=(conn,), name=f"airlock-conn-{conn.conn_id}",
                             daemon=True).start()

    # --------------------------------------------------------------------- status
    def sessions(self) -> list[dict[str, Any]]:
        with self._conns_lock:
            return [c.to_dict() for c in self._conns.values() if c.hello]

    def status(self) -> dict[str, Any]:
        inner = self.approvals.inner
        return {
            "running": self.running,
            "pid": os.getpid(),
            "server_pid": os.getpid(),
            "socket": str(self.socket_path),
            "protocol": P.PROTOCOL_VERSION,
            "started": self.started,
            "uptime_s": round(time.time() - self.started, 3) if self.started else 0.0,
            "approver": type(inner).__name__ if inner is not None else "queue",
            "agents": self.sessions(),
            "pending": [p.to_dict() for p in self.approvals.pending()],
        }
