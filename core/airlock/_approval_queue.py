"""The approval queue: the seam between the server's worker threads and whoever answers.

The server installs an ``ApprovalQueue`` as the engine's approver. Every request that
needs a human is listed in ``pending()`` while it waits (``airlock status`` shows them).
Two ways to answer:

* ``inner`` set (``TerminalApprover``, ``DenyAllApprover``, the tray's approver): it is
  asked on a helper thread; the first of its answer, ``cancel`` or ``timeout`` wins (a late
  answer is ignored, so a cancelled prompt can never approve anything);
* ``inner`` is None: the request waits for ``resolve(request_id, decision)`` from another
  thread (a GUI thread), or for ``timeout`` -> denied as a timeout, never remembered.

Listeners (``add_listener``) hear ``("added" | "removed", PendingApproval)`` so a GUI can
show and hide prompts. A listener that raises is logged and ignored.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .approval import Approver
from .events import ApprovalDecision, ApprovalRequest, BeforeAgentEvent

__all__ = ["ApprovalQueue", "PendingApproval"]

log = logging.getLogger("airlock.approvals")

Listener = Callable[[str, "PendingApproval"], None]


@dataclass(slots=True)
class PendingApproval:
    request: ApprovalRequest
    created: float = field(default_factory=time.time)
    _done: threading.Event = field(default_factory=threading.Event)
    _answer: ApprovalDecision | None = None

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def to_dict(self) -> dict[str, Any]:
        ev, v = self.request.event, self.request.verdict
        what = ev.prompt[:200] if isinstance(ev, BeforeAgentEvent) else getattr(ev, "tool_name", "")
        return {
            "request_id": self.request_id,
            "created": self.created,
            "waiting_s": round(time.time() - self.created, 3),
            "agent": ev.agent.to_dict(),
            "event": ev.kind.value,
            "call_id": ev.call_id,
            "what": what,
            "reason": v.reason,
            "risk": v.risk.name.lower(),
        }


class ApprovalQueue:
    """An ``Approver`` that lists what waits and routes it to ``inner`` or to ``resolve``."""

    def __init__(self, inner: Approver | None = None, *, timeout: float = 120.0) -> None:
        self.inner = inner
        self.timeout = float(timeout)
        self._lock = threading.Lock()
        self._pending: dict[str, PendingApproval] = {}
        self._listeners: list[Listener] = []

    # -- the Approver protocol (called on a server worker thread)
    def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        item = PendingApproval(request)
        with self._lock:
            self._pending[item.request_id] = item
        self._notify("added", item)
        try:
            inner = self.inner
            if inner is not None:  # on its own thread, so cancel() and the timeout work for any approver
                threading.Thread(target=self._ask_inner, args=(inner, item), name="airlock-approver",
                                 daemon=True).start()
            if item._done.wait(self.timeout) and item._answer is not None:
                return item._answer
            return ApprovalDecision(False, "timeout", f"denied: no answer within {self.timeout:g} s",
                                    timed_out=True)
        finally:
            with self._lock:
                self._pending.pop(item.request_id, None)
            self._notify("removed", item)

    def _ask_inner(self, inner: Approver, item: PendingApproval) -> None:
        try:
            answer = inner.decide(item.request)
            if not isinstance(answer, ApprovalDecision):
                raise TypeError(f"approver returned {type(answer).__name__}")
        except Exception as exc:  # fail secure
            log.exception("approver failed")
            answer = ApprovalDecision(False, "error", f"denied: the approver failed ({type(exc).__name__}: {exc})")
        with self._lock:
            if not item._done.is_set():
                item._answer = answer
                item._done.set()

    # -- for the GUI / status
    def pending(self) -> list[PendingApproval]:
        with self._lock:
            return sorted(self._pending.values(), key=lambda p: p.created)

    def resolve(self, request_id: str, decision: ApprovalDecision) -> bool:
        """Answer a waiting request. False if it is no longer waiting."""
        with self._lock:
            item = self._pending.get(request_id)
            if item is None or item._done.is_set():
                return False
            item._answer = decision
            item._done.set()
        return True

    def cancel(self, predicate: Callable[[PendingApproval], bool], reason: str) -> int:
        """Deny every waiting request matching ``predicate`` (agent gone, server stopping)."""
        n = 0
        with self._lock:
            for item in self._pending.values():
                if not item._done.is_set() and predicate(item):
                    item._answer = ApprovalDecision(False, "cancelled", f"denied: {reason}")
                    item._done.set()
                    n += 1
        return n

    def add_listener(self, fn: Listener) -> None:
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _notify(self, what: str, item: PendingApproval) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(what, item)
            except Exception:
                log.exception("approval listener failed")
