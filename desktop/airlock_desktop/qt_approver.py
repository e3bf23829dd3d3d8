"""The core ``Approver`` for the tray app: asks the GUI thread, waits, and denies when anything goes wrong.

The socket server calls ``decide`` on one of its worker threads. We hand the request to the
GUI thread through a queued Qt signal and block on a ``threading.Event``. The GUI answers by
calling ``PendingApproval.resolve``; the first answer wins. If the GUI is gone, raises, or
never answers within the hard limit, the answer is a denial (``timeout`` when time ran out),
so an agent can never be let through by a broken or absent window.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from PySide6.QtCore import QObject, Signal

from airlock.events import ApprovalDecision, ApprovalRequest

__all__ = ["PendingApproval", "ApprovalBridge", "QtApprover"]

log = logging.getLogger("airlock.desktop.approver")


class PendingApproval:
    """One request waiting for a human. Thread-safe; the first ``resolve`` wins, later ones are ignored."""

    def __init__(self, request: ApprovalRequest, timeout: float) -> None:
        self.request = request
        self.timeout = timeout
        self.created = time.monotonic()
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._decision: ApprovalDecision | None = None
        #: called (on the resolving thread) once an answer is in; the GUI uses it to drop stale dialogs
        self.on_resolved: Callable[["PendingApproval"], None] | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    @property
    def decision(self) -> ApprovalDecision | None:
        return self._decision

    def resolve(self, decision: ApprovalDecision) -> bool:
        """Record the answer; returns False when another answer came first."""
        with self._lock:
            if self._event.is_set():
                return False
            self._decision = decision
            self._event.set()
        cb = self.on_resolved
        if cb is not None:
            try:
                cb(self)
            except Exception:  # a view callback must never change the answer
                log.exception("on_resolved callback failed")
        return True

    def wait(self, limit: float) -> ApprovalDecision | None:
        self._event.wait(limit)
        return self._decision


class ApprovalBridge(QObject):
    """Lives in the GUI thread. ``requested`` is emitted from worker threads (queued delivery)."""

    requested = Signal(object)  # PendingApproval

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.alive = True
        self.destroyed.connect(self._gone)

    def _gone(self) -> None:
        self.alive = False


class QtApprover:
    """``decide`` blocks the calling (non-GUI) thread until the GUI answers or time runs out.

    ``timeout`` is the countdown shown to the user. The dialog may pause its countdown while the
    pointer is over it, so the approver's own hard limit is ``timeout * hard_factor``: past it the
    request is denied as a timeout whatever the window does.
    """

    def __init__(self, bridge: ApprovalBridge, timeout: float = 60.0, hard_factor: float = 3.0) -> None:
        self.bridge = bridge
        self.timeout = float(timeout)
        self.hard_factor = float(hard_factor)

    def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        try:
            if not self.bridge.alive:
                return ApprovalDecision(False, "deny-all", "denied: the Airlock window is not available")
            if threading.current_thread() is threading.main_thread():
                # Blocking the GUI thread on the GUI would deadlock: refuse instead.
                return ApprovalDecision(False, "error", "denied: approval asked on the GUI thread (would deadlock)")
            pending = PendingApproval(request, self.timeout)
            self.bridge.requested.emit(pending)
            answer = pending.wait(max(self.timeout * self.hard_factor, self.timeout + 1.0))
            if answer is None:
                pending.resolve(ApprovalDecision(False, "timeout", "denied: nobody answered in time",
                                                 timed_out=True))
                answer = pending.decision
            assert answer is not None
            if answer.timed_out and answer.approved:  # never: a timeout cannot approve
                return ApprovalDecision(False, "timeout", "denied: nobody answered in time", timed_out=True)
            return answer
        except Exception as exc:  # fail secure
            log.exception("QtApprover failed")
            return ApprovalDecision(False, "error", f"denied: the approval window failed ({type(exc).__name__}: {exc})")
