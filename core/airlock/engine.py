"""The security engine: turns one event into one recorded decision.

Layers, in order, each able to only tighten what the previous ones said:

1. hooks (user code; a raising hook blocks);
2. protected paths (a write to one is a hard block: no rule or approver overrides it);
3. injection defense (CRITICAL: hard block; HIGH: ask; MEDIUM: allow and record);
4. the tool policy (user rules: deny > ask > allow; else the tool's risk: CRITICAL/HIGH ask).

ASK goes to the approver; whatever happens, one audit record is written before the
answer is returned. If that record cannot be written, the call is refused: a firewall
that cannot account for what it let through must not let it through.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any, Protocol

from . import paths as _paths
from .approval import Approver, AutoApprover, default_approver
from .events import (
    Action,
    AfterToolEvent,
    AnyEvent,
    ApprovalDecision,
    ApprovalRequest,
    AuditRecord,
    BeforeAgentEvent,
    BeforeToolEvent,
    Decision,
    EventKind,
    Outcome,
    RiskLevel,
    Scope,
    Verdict,
    utc_iso,
)
from .hooks import HookRegistry
from .hooks import registry as global_registry
from .threat import ScanResult, ThreatLevel

__all__ = ["Decider", "Engine", "ToolBlocked"]

log = logging.getLogger("airlock.engine")


class ToolBlocked(Exception):
    """A guarded call was refused. ``str(exc)`` is the reason, written for the model to read."""

    def __init__(self, reason: str, decision: Decision | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.decision = decision


class Decider(Protocol):
    """Anything that settles events: the local ``Engine`` or the socket client."""

    def before_agent(self, event: BeforeAgentEvent) -> Decision: ...
    def before_tool(self, event: BeforeToolEvent) -> Decision: ...
    def after_tool(self, event: AfterToolEvent) -> Decision: ...


class _Scanner(Protocol):
    def scan(self, text: str, *, source: str = ...) -> ScanResult: ...
    def scan_value(self, obj: Any, *, source: str = ...) -> ScanResult: ...


class _Audit(Protocol):
    def append(self, record: AuditRecord) -> AuditRecord: ...


class Engine:
    """Holds the configured layers. Every part is optional; what is None is off.

    ``policy`` is a ``PolicyStore`` (rules + risk matrix). Without one, the built-in
    risk matrix still applies: CRITICAL and HIGH tools always need approval.
    """

    def __init__(
        self,
        *,
        hooks: HookRegistry | None = None,
        scanner: _Scanner | None = None,
        audit: _Audit | None = None,
        policy: Any | None = None,
        approver: Approver | None = None,
        output_block_at: ThreatLevel = ThreatLevel.CRITICAL,
        monitor: Any | None = None,
    ) -> None:
        self.hooks = hooks if hooks is not None else global_registry
        self.scanner = scanner
        self.audit = audit
        self.policy = policy
        self._approver = approver
        self.output_block_at = output_block_at
        self.monitor = monitor  # a monitor.Monitor: rate limits, anomaly alerts, paused agents
        self.paused_until = 0.0  # "pause protection": until then every tool call is asked
        # answers given "for this agent session": (session id, agent, tool) -> the answer
        self._session_grants: dict[tuple[str, str, str], ApprovalDecision] = {}
        self._audit_lock = threading.Lock()

    @property
    def approver(self) -> Approver:
        """The configured approver, else the environment's default (auto-approve, terminal or deny-all)."""
        return self._approver if self._approver is not None else default_approver()

    @approver.setter
    def approver(self, value: Approver | None) -> None:
        self._approver = value

    # ------------------------------------------------------------------ public
    def before_tool(self, event: BeforeToolEvent) -> Decision:
        decision = self._settle(event, self._evaluate_tool(event))
        if self.monitor is not None:
            self._observe(lambda m: m.observe_call(event, refused_by_rate=decision.decided_by == "rate_limit"),
                          event)
        return decision

    def before_agent(self, event: BeforeAgentEvent) -> Decision:
        return self._settle(event, self._evaluate_prompt(event))

    def after_tool(self, event: AfterToolEvent) -> Decision:
        """Scan the output; a CRITICAL injection withholds it, anything less is recorded on the record."""
        verdict = Verdict(Action.ALLOW, "", "default", risk=self._risk_of(event.tool_name, None))
        original_output = event.output
        try:
            hook_out = self.hooks.run(event)
            if hook_out.errors:
                verdict.hook_errors = tuple(hook_out.errors)
            if hook_out.action is Action.BLOCK:
                verdict.action, verdict.reason, verdict.decided_by = Action.BLOCK, hook_out.reason, hook_out.decided_by
            if self.scanner is not None and event.output is not None and verdict.action is not Action.BLOCK:
                scan = self.scanner.scan_value(event.output, source="tool_output")
                verdict.threat_level, verdict.findings = scan.level, scan.findings
                if scan.level >= self.output_block_at:
                    verdict.action, verdict.decided_by = Action.BLOCK, "injection"
                    verdict.reason = (f"tool output withheld: it contains a prompt injection "
                                      f"({scan.level.name}: {', '.join(scan.checks)})")
                elif scan.level >= ThreatLevel.MEDIUM:
                    verdict.reason = f"tool output flagged ({scan.level.name}: {', '.join(scan.checks)})"
        except Exception as exc:  # fail secure
            log.exception("after_tool evaluation failed")
            verdict = Verdict(Action.BLOCK, f"output check failed ({exc}); output withheld", "error")
        outcome = Outcome.BLOCKED if verdict.action is Action.BLOCK else Outcome.ALLOWED
        decision = Decision(outcome, verdict.reason, verdict.decided_by, verdict, event.tool_input)
        if event.output is not original_output:  # an after_tool hook (the output filter) replaced it
            decision.output, decision.output_changed = event.output, True
        if self.monitor is not None:
            self._observe(lambda m: m.observe_result(event), event)
        record = AuditRecord.from_decision(event, decision)
        record.execution_time_ms = round(float(event.duration_ms), 3)
        record.error = event.error
        record.extra = {"output_chars": len(str(event.output)) if event.output is not None else 0}
        return self._record(record, decision)

    # -------------------------------------------------------------- evaluation
    def _risk_of(self, tool_name: str, declared: RiskLevel | None) -> RiskLevel:
        from .policy import RISK_MATRIX

        policy = self._policy_now()
        if policy is not None:
            policy_risk = policy.risk_of(tool_name)
        else:
            policy_risk = RISK_MATRIX.get(tool_name, RiskLevel.MEDIUM)
        # A tool's own declaration can raise its risk, never lower it below what the policy says.
        return policy_risk if declared is None else max(declared, policy_risk)

    def _policy_now(self) -> Any | None:
        if self.policy is None:
            return None
        return self.policy.current

    def _evaluate_tool(self, event: BeforeToolEvent) -> Verdict:
        try:
            v = self._evaluate_tool_unsafe(event)
            if v.action is Action.ALLOW:
                paused = self._pause_reason(event)
                if paused:
                    v.action, v.decided_by, v.reason = Action.ASK, "paused", paused
            return v
        except Exception as exc:  # fail secure: an engine bug denies, with the reason
            log.exception("before_tool evaluation failed")
            return Verdict(Action.BLOCK, f"Airlock could not evaluate this call ({type(exc).__name__}: {exc}); "
                           "blocked to be safe", "error", risk=event.risk or RiskLevel.MEDIUM)

    def _evaluate_tool_unsafe(self, event: BeforeToolEvent) -> Verdict:
        risk = self._risk_of(event.tool_name, event.risk)
        v = Verdict(Action.ALLOW, "", "default", risk=risk)

        # 1. hooks
        hook_out = self.hooks.run(event)
        v.hook_errors = tuple(hook_out.errors)
        if hook_out.new_input is not None:
            v.modified_input = hook_out.new_input
        if hook_out.action is Action.BLOCK:
            v.action, v.reason, v.decided_by = Action.BLOCK, hook_out.reason, hook_out.decided_by
            return v

        policy = self._policy_now()
        # 1b. rate limits
        if self.monitor is not None:
            self.monitor.configure(getattr(policy, "limits", {}) or {})
            rate = self.monitor.check_rate(event.agent.name, event.tool_name)
            if not rate.allowed:
                v.action, v.decided_by, v.reason = Action.BLOCK, "rate_limit", rate.reason
                return v

        # 2. protected paths: writes are refused outright, secret reads are asked
        extra = tuple(getattr(policy, "protected_paths", ()) or ())
        for location, path in _paths.path_arguments(event.tool_input):
            if event.tool_name in _paths.WRITE_TOOLS:
                reason = _paths.protection_reason(path, extra_patterns=extra, cwd=event.agent.cwd or None)
                if reason:
                    v.action, v.decided_by, v.hard_block = Action.BLOCK, "protected_path", True
                    v.reason = f"{event.tool_name} may not modify {path!r}: {reason}"
                    return v
            elif event.tool_name in _paths.SECRET_READ_TOOLS and _paths.is_secret_bearing(path, cwd=event.agent.cwd or None):
                if v.action is Action.ALLOW:
                    v.action, v.decided_by = Action.ASK, "protected_path"
                    v.reason = f"{event.tool_name} wants to read {path!r}, which may hold secrets"

        # 3. injection defense on every string of the input
        if self.scanner is not None:
            scan = self.scanner.scan_value(event.tool_input, source="tool_input")
            v.threat_level, v.findings = scan.level, scan.findings
            if scan.blocked:
                v.action, v.decided_by, v.hard_block = Action.BLOCK, "injection", True
                v.reason = f"prompt injection in the tool input ({scan.level.name}: {', '.join(scan.checks)})"
                return v
            if scan.level >= ThreatLevel.HIGH and v.action is Action.ALLOW:
                v.action, v.decided_by = Action.ASK, "injection"
                v.reason = f"possible prompt injection in the tool input ({', '.join(scan.checks)})"

        # 4. policy rules, then the tool's risk
        match = policy.match(event) if policy is not None else None
        if match is not None:
            rule_action = Action.parse(match.action)
            v.rule_id = match.rule.id
            if rule_action is Action.BLOCK:
                v.action, v.decided_by = Action.BLOCK, f"rule:{match.rule.id}"
                v.reason = f"denied by rule {match.rule.id}" + (f" ({match.rule.comment})" if match.rule.comment else "")
                return v
            if rule_action is Action.ASK and v.action is Action.ALLOW:
                v.action, v.decided_by = Action.ASK, f"rule:{match.rule.id}"
                v.reason = f"rule {match.rule.id} asks for approval"
            if rule_action is Action.ALLOW and v.action is Action.ALLOW:
                v.decided_by, v.reason = f"rule:{match.rule.id}", f"allowed by rule {match.rule.id}"
            # an allow rule settles the risk question; an ASK from hooks/paths/injection still stands
            if rule_action is Action.ALLOW or v.action is not Action.ALLOW:
                return self._apply_hook_ask(v, hook_out)
        if risk.needs_approval and v.action is Action.ALLOW:
            v.action, v.decided_by = Action.ASK, f"risk:{risk.name.lower()}"
            v.reason = f"{event.tool_name} is a {risk.name.lower()}-risk tool and needs approval"
        return self._apply_hook_ask(v, hook_out)

    def _pause_reason(self, event: BeforeToolEvent) -> str | None:
        if self.paused_until and time.time() < self.paused_until:
            return "protection is paused: every call needs your approval"
        if self.monitor is not None:
            return self.monitor.pause_reason(event.agent.name)
        return None

    def _observe(self, fn: Any, event: AnyEvent) -> None:
        try:
            alerts = fn(self.monitor)
        except Exception:  # monitoring must never break a decision
            log.exception("monitor failed")
            return
        for alert in alerts:
            record = AuditRecord(
                timestamp=utc_iso(), session_id=event.agent.session_id, agent_name=alert.agent,
                tool_name=getattr(event, "tool_name", None), tool_input=None, execution_time_ms=None, error=None,
                event=EventKind.SECURITY_ALERT.value, decision="alert", decided_by="monitor",
                threat_level=alert.severity.upper(), reason=alert.summary, call_id=event.call_id,
                agent=event.agent.to_dict(), extra=alert.to_dict())
            try:
                with self._audit_lock:
                    if self.audit is not None:
                        self.audit.append(record)
            except Exception:
                log.exception("could not record a security alert")

    @staticmethod
    def _apply_hook_ask(v: Verdict, hook_out: Any) -> Verdict:
        if hook_out.action is Action.ASK and v.action is Action.ALLOW:
            v.action, v.reason, v.decided_by = Action.ASK, hook_out.reason, hook_out.decided_by
        return v

    def _evaluate_prompt(self, event: BeforeAgentEvent) -> Verdict:
        v = Verdict(Action.ALLOW, "", "default", risk=RiskLevel.NONE)
        try:
            hook_out = self.hooks.run(event)
            v.hook_errors = tuple(hook_out.errors)
            if hook_out.action is not Action.ALLOW:
                v.action, v.reason, v.decided_by = hook_out.action, hook_out.reason, hook_out.decided_by
                if v.action is Action.BLOCK:
                    return v
            if self.scanner is not None:
                scan = self.scanner.scan(event.prompt, source="user")
                v.threat_level, v.findings = scan.level, scan.findings
                if scan.blocked:
                    v.action, v.decided_by, v.hard_block = Action.BLOCK, "injection", True
                    v.reason = f"prompt injection ({scan.level.name}: {', '.join(scan.checks)})"
                elif scan.level >= ThreatLevel.HIGH and v.action is Action.ALLOW:
                    v.action, v.decided_by = Action.ASK, "injection"
                    v.reason = f"possible prompt injection ({', '.join(scan.checks)})"
                elif scan.level >= ThreatLevel.MEDIUM and not v.reason:
                    v.reason = f"warning: suspicious prompt ({', '.join(scan.checks)})"
        except Exception as exc:
            log.exception("before_agent evaluation failed")
            return Verdict(Action.BLOCK, f"Airlock could not evaluate this prompt ({exc}); blocked to be safe",
                           "error", risk=RiskLevel.NONE)
        return v

    # --------------------------------------------------------------- settling
    def _settle(self, event: BeforeAgentEvent | BeforeToolEvent, verdict: Verdict) -> Decision:
        tool_input = verdict.modified_input if verdict.modified_input is not None else getattr(event, "tool_input", None)
        if verdict.action is Action.ALLOW:
            decision = Decision(Outcome.ALLOWED, verdict.reason or "allowed", verdict.decided_by, verdict, tool_input)
        elif verdict.action is Action.BLOCK:
            decision = Decision(Outcome.BLOCKED, verdict.reason, verdict.decided_by, verdict, tool_input)
        else:
            grant_key = self._grant_key(event, verdict)
            granted = self._session_grants.get(grant_key) if grant_key else None
            answer = granted if granted is not None else self._ask(event, verdict)
            if grant_key and granted is None and answer.scope is Scope.SESSION and not answer.timed_out:
                if len(self._session_grants) < 10_000:
                    self._session_grants[grant_key] = ApprovalDecision(
                        answer.approved, f"{answer.decided_by} (this session)", answer.reason, Scope.SESSION)
            if answer.approved:
                outcome = Outcome.APPROVED
            else:
                outcome = Outcome.TIMEOUT if answer.timed_out else Outcome.DENIED
            reason = answer.reason or verdict.reason
            if not answer.approved and verdict.reason and verdict.reason not in reason:
                reason = f"{reason} (asked because: {verdict.reason})"
            decision = Decision(outcome, reason, answer.decided_by, verdict, tool_input,
                                auto_approved=answer.decided_by == "auto-approve" and answer.approved)
        return self._record(AuditRecord.from_decision(event, decision), decision)

    @staticmethod
    def _grant_key(event: AnyEvent, verdict: Verdict) -> tuple[str, str, str] | None:
        """Session-scoped answers cover asks about a tool's risk or an ask rule, nothing else:
        an injection finding, a secret path or a pause is asked again every time."""
        if not isinstance(event, BeforeToolEvent) or not event.agent.session_id:
            return None
        if not verdict.decided_by.startswith(("risk:", "rule:")):
            return None
        return (event.agent.session_id, event.agent.name, event.tool_name)

    def _ask(self, event: AnyEvent, verdict: Verdict) -> ApprovalDecision:
        if verdict.hard_block:  # never routed to a human or to auto-approve
            return ApprovalDecision(False, verdict.decided_by, verdict.reason)
        try:
            answer = self.approver.decide(ApprovalRequest(event=event, verdict=verdict))
            if not isinstance(answer, ApprovalDecision):
                raise TypeError(f"approver returned {type(answer).__name__}")
            if answer.approved and verdict.hard_block and isinstance(self.approver, AutoApprover):
                return ApprovalDecision(False, "auto-approve", "auto-approve never overrides a critical block")
            return answer
        except Exception as exc:  # fail secure
            log.exception("approver failed")
            return ApprovalDecision(False, "error", f"denied: the approver failed ({type(exc).__name__}: {exc})")

    def _record(self, record: AuditRecord, decision: Decision) -> Decision:
        if verdict_errors := decision.verdict.hook_errors:
            record.extra = {**record.extra, "hook_errors": list(verdict_errors)}
        if self.audit is None:
            return decision
        try:
            with self._audit_lock:
                self.audit.append(record)
        except Exception as exc:
            log.exception("audit append failed")
            if decision.allowed:
                reason = f"blocked: the audit log could not be written ({type(exc).__name__}: {exc})"
                return replace(decision, outcome=Outcome.BLOCKED, reason=reason, decided_by="audit")
        return decision
