"""Approvers: who answers when the automatic layers say "ask a human".

Three built-ins here; the socket server and the tray app add their own by implementing
``Approver``. The rule that matters: when no human can be asked, the answer is no.
"""

from __future__ import annotations

import json
import logging
import os
import select
import sys
import threading
from typing import Any, Protocol, TextIO, runtime_checkable

from .events import ApprovalDecision, ApprovalRequest, BeforeAgentEvent, Scope

__all__ = [
    "Approver",
    "DenyAllApprover",
    "TerminalApprover",
    "AutoApprover",
    "auto_approve_enabled",
    "default_approver",
]

log = logging.getLogger("airlock.approval")


@runtime_checkable
class Approver(Protocol):
    """Answers one approval request. Must return (not raise) within its own timeout; the engine
    treats an exception as a denial anyway."""

    def decide(self, request: ApprovalRequest) -> ApprovalDecision: ...


class DenyAllApprover:
    """The default when no human can be asked: every request is denied, with the reason why."""

    def __init__(self, why: str = "no approver is available (no terminal and the Airlock app is not running)") -> None:
        self.why = why

    def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(False, "deny-all", f"denied: {self.why}")


def auto_approve_enabled() -> bool:
    return os.environ.get("AIRLOCK_AUTO_APPROVE", "").strip().lower() in ("1", "true", "yes")


class AutoApprover:
    """``AIRLOCK_AUTO_APPROVE=1``: approves what would be asked, loudly.

    Never approves a hard block (a CRITICAL injection): the engine does not route those
    to approvers at all, and this class refuses them again in case a caller does.
    """

    _warned = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        if request.verdict.hard_block:
            return ApprovalDecision(False, "auto-approve", "auto-approve never overrides a critical block")
        self._warn(request)
        return ApprovalDecision(True, "auto-approve", "approved by AIRLOCK_AUTO_APPROVE=1 (no human looked at it)")

    def _warn(self, request: ApprovalRequest) -> None:
        what = getattr(request.event, "tool_name", None) or request.event.kind.value
        msg = f"AIRLOCK_AUTO_APPROVE=1: approving {what} without asking anyone ({request.verdict.reason})"
        log.warning(msg)
        stream = self._stream or sys.stderr
        if not AutoApprover._warned or self._stream is not None:
            AutoApprover._warned = True
            print("\n*** WARNING: AIRLOCK_AUTO_APPROVE=1 is set: risky tool calls run WITHOUT approval. ***",
                  file=stream)
        print(f"airlock: {msg}", file=stream)


class TerminalApprover:
    """Asks on the controlling terminal. Used only when stdin is a TTY; one prompt at a time.

    No answer within ``timeout`` seconds is a denial (recorded as a timeout, never remembered).
    """

    def __init__(self, timeout: float = 60.0, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.timeout = timeout
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stderr
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        try:
            return sys.stdin is not None and sys.stdin.isatty()
        except (ValueError, OSError):
            return False

    def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        with self._lock:
            self._out.write(self._describe(request))
            self._out.write(f"Approve? [y/N] (denied in {int(self.timeout)} s) ")
            self._out.flush()
            try:
                ready, _, _ = select.select([self._in], [], [], self.timeout)
            except (ValueError, OSError) as exc:
                return ApprovalDecision(False, "terminal", f"denied: cannot read the terminal ({exc})")
            if not ready:
                self._out.write("\n(no answer: denied)\n")
                return ApprovalDecision(False, "timeout", "denied: no answer on the terminal in time",
                                        timed_out=True)
            answer = self._in.readline().strip().lower()
        if answer in ("y", "yes"):
            return ApprovalDecision(True, "user", "approved on the terminal")
        return ApprovalDecision(False, "user", "denied on the terminal")

    @staticmethod
    def _describe(request: ApprovalRequest) -> str:
        ev, v = request.event, request.verdict
        lines = ["", "=" * 60, "Airlock: approval needed"]
        lines.append(f"  agent : {ev.agent.name} (pid {ev.agent.pid})")
        if isinstance(ev, BeforeAgentEvent):
            lines.append(f"  prompt: {ev.prompt[:300]!r}")
        else:
            args = json.dumps(getattr(ev, "tool_input", {}), ensure_ascii=False, default=repr)
            lines.append(f"  tool  : {getattr(ev, 'tool_name', '?')}  risk {v.risk.name.lower()}")
            lines.append(f"  args  : {args[:500]}")
        lines.append(f"  why   : {v.reason}")
        for f in v.findings[:5]:
            lines.append(f"  found : {f.check}: {f.evidence!r}")
        lines.append("=" * 60)
        return "\n".join(lines) + "\n"


def default_approver() -> Approver:
    """Auto-approve if the environment says so, else the terminal if there is one, else deny-all."""
    if auto_approve_enabled():
        return AutoApprover()
    if TerminalApprover.available():
        return TerminalApprover()
    return DenyAllApprover()


def answer_covers(answered: ApprovalRequest, approved: bool, scope: Scope, queued: ApprovalRequest,
                  rule: Any = None) -> bool:
    """Whether a user's answer to ``answered`` also settles ``queued``, still waiting in line.

    The same rules as the engine's own memory: a "this session" answer covers the same tool of the
    same agent session; a saved rule covers what it matches. Either covers only asks about a tool's
    risk or an ask rule. An injection finding, a secret path or a pause is always asked on its own,
    except that a deny (never a risk) may cover them too.
    """
    from .events import BeforeToolEvent

    ev, q = answered.event, queued.event
    if not isinstance(q, BeforeToolEvent) or not isinstance(ev, BeforeToolEvent):
        return False
    plain_ask = queued.verdict.decided_by.startswith(("risk:", "rule:"))
    if approved and not plain_ask:
        return False
    if scope is Scope.SESSION:
        return (bool(q.agent.session_id) and q.agent.session_id == ev.agent.session_id
                and q.agent.name == ev.agent.name and q.tool_name == ev.tool_name)
    if rule is not None and hasattr(rule, "matches"):
        import time as _time

        try:
            return bool(rule.matches(q, _time.time()))
        except Exception:  # a rule that cannot judge the call does not cover it
            return False
    return False
