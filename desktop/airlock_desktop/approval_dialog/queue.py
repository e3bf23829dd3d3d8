"""Shows pending approvals one at a time, merges identical ones, and turns answers into decisions.

Lives in the GUI thread. ``submit`` is connected to ``ApprovalBridge.requested``. Identical
requests (same agent process and session, same tool, same input) share one dialog and one
answer. A timeout is recorded as ``timeout`` and never creates a rule, whatever the scope box
said. Rules the user asks for go to ``rule_sink`` (the core policy store); if saving fails the
decision for the call still stands and ``rule_failed`` says why.
"""

from __future__ import annotations

import json
import logging
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal

from airlock.events import ApprovalDecision, Scope

from .._rule_draft import RuleDraft
from ..qt_approver import PendingApproval
from .dialog import ApprovalDialog, UserAnswer

__all__ = ["ApprovalQueue"]

log = logging.getLogger("airlock.desktop.queue")


def _key(p: PendingApproval) -> str:
    ev = p.request.event
    a = ev.agent
    body = getattr(ev, "tool_input", None)
    if body is None:
        body = getattr(ev, "prompt", "")
    try:
        payload = json.dumps(body, sort_keys=True, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        payload = repr(body)
    return "\0".join((a.name, str(a.pid), a.session_id, ev.kind.value, getattr(ev, "tool_name", "") or "", payload))


class ApprovalQueue(QObject):
    count_changed = Signal(int)
    timed_out = Signal(object)        # PendingApproval
    decided = Signal(object, object)  # PendingApproval, ApprovalDecision
    rule_failed = Signal(str)
    _stale = Signal(object)           # from any thread: a pending was answered elsewhere

    def __init__(self, timeout: float = 60.0, rule_sink: Callable[[RuleDraft], object] | None = None,
                 arm_delay_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timeout = timeout
        self.rule_sink = rule_sink
        self.arm_delay_ms = arm_delay_ms
        self._groups: list[tuple[str, list[PendingApproval]]] = []
        self.dialog: ApprovalDialog | None = None
        self._stale.connect(self._drop_stale, Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------------ state
    @property
    def pending_count(self) -> int:
        return sum(1 for _, ps in self._groups for p in ps if not p.done)

    def submit(self, pending: PendingApproval) -> None:
        if pending.done:
            return
        pending.on_resolved = lambda p: self._stale.emit(p)
        key = _key(pending)
        for k, members in self._groups:
            if k == key:
                members.append(pending)
                break
        else:
            self._groups.append((key, [pending]))
        self._show_next()
        self._changed()

    def _changed(self) -> None:
        if self.dialog is not None:
            self.dialog.set_more_pending(len(self._groups) - 1)
        self.count_changed.emit(self.pending_count)

    # --------------------------------------------------------------- dialogs
    def _show_next(self) -> None:
        if self.dialog is not None:
            return
        while self._groups and all(p.done for p in self._groups[0][1]):
            self._groups.pop(0)
        if not self._groups:
            return
        first = self._groups[0][1][0]
        dlg = ApprovalDialog(first.request, timeout=self.timeout, arm_delay_ms=self.arm_delay_ms)
        dlg.answered.connect(lambda ans, d=dlg: self._on_answer(d, ans))
        self.dialog = dlg
        dlg.set_more_pending(len(self._groups) - 1)
        dlg.show()  # WA_ShowWithoutActivating: shown on top, focus stays where the user is

    def _on_answer(self, dlg: ApprovalDialog, ans: UserAnswer) -> None:
        if dlg is not self.dialog:
            return
        self.dialog = None
        _, members = self._groups.pop(0)
        decision = self._decision(ans)
        saved_rule = None
        if ans.rule is not None and not ans.timed_out and self.rule_sink is not None:
            try:
                saved_rule = self.rule_sink(ans.rule)
            except Exception as exc:  # the call's answer stands; the rule is not saved
                log.exception("saving the rule failed")
                self.rule_failed.emit(f"The rule was not saved: {exc}")
        elif ans.error:
            self.rule_failed.emit(f"The rule was not saved: {ans.error}")
        for p in members:
            if p.resolve(decision):
                self.decided.emit(p, decision)
                if ans.timed_out:
                    self.timed_out.emit(p)
        if not ans.timed_out:
            self._answer_covered(members[0].request, decision, saved_rule)
        self._show_next()
        self._changed()

    def _answer_covered(self, answered: object, decision: ApprovalDecision, rule: object) -> None:
        """Queued requests the new answer or rule covers are answered at once (the core decides which)."""
        from airlock.approval import answer_covers

        if decision.scope is Scope.ONCE and rule is None:
            return
        for _, members in self._groups:
            for p in members:
                if not p.done and answer_covers(answered, decision.approved, decision.scope, p.request, rule):
                    covered = ApprovalDecision(decision.approved, decision.decided_by,
                                               decision.reason + " (covered by your earlier answer)",
                                               scope=decision.scope)
                    if p.resolve(covered):
                        self.decided.emit(p, covered)
        self._groups = [(k, ms) for k, ms in self._groups if not all(p.done for p in ms)]

    def _decision(self, ans: UserAnswer) -> ApprovalDecision:
        if ans.timed_out:
            return ApprovalDecision(False, "timeout", f"denied: nobody answered within {int(self.timeout)} s",
                                    scope=Scope.ONCE, timed_out=True)
        scope = ans.scope if isinstance(ans.scope, Scope) else Scope.ONCE
        if ans.approved:
            return ApprovalDecision(True, "user", "approved by the user in the Airlock app", scope=scope)
        return ApprovalDecision(False, "user", "denied by the user in the Airlock app", scope=scope)

    def _drop_stale(self, _p: PendingApproval) -> None:
        if self.dialog is not None and self._groups and all(p.done for p in self._groups[0][1]):
            dlg, self.dialog = self.dialog, None
            self._groups.pop(0)
            dlg.dismiss()
        self._groups = [(k, ms) for k, ms in self._groups if not all(p.done for p in ms)] if self.dialog is None \
            else [self._groups[0]] + [(k, ms) for k, ms in self._groups[1:] if not all(p.done for p in ms)]
        self._show_next()
        self._changed()

    def deny_all(self, reason: str = "denied: the Airlock app is quitting") -> None:
        """On quit: every waiting agent gets a clear no instead of waiting for a timeout."""
        for _, ms in self._groups:
            for p in ms:
                p.resolve(ApprovalDecision(False, "deny-all", reason))
        if self.dialog is not None:
            self.dialog.dismiss()
            self.dialog = None
        self._groups.clear()
        self._changed()
