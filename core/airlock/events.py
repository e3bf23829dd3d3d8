"""The one event schema that flows through Airlock.

A call starts as an event (``BeforeToolEvent`` ...) built by ``guard`` or by the
socket client, crosses the wire as ``event.to_dict()``, is rebuilt with
``event_from_dict`` by the server, judged into a ``Verdict`` by the engine, maybe
turned into an ``ApprovalDecision`` by a human, settled as a ``Decision`` and
finally written as an ``AuditRecord``. Every layer passes these dataclasses, never
loose dicts.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum, IntEnum
from typing import Any, Union

from .threat import Finding, ThreatLevel

__all__ = [
    "EventKind",
    "RiskLevel",
    "Action",
    "Outcome",
    "Scope",
    "AgentIdentity",
    "Event",
    "BeforeAgentEvent",
    "BeforeToolEvent",
    "AfterToolEvent",
    "AnyEvent",
    "event_from_dict",
    "Verdict",
    "ApprovalRequest",
    "ApprovalDecision",
    "Decision",
    "AuditRecord",
    "utc_iso",
    "decision_to_dict",
    "decision_from_dict",
]


class EventKind(str, Enum):
    BEFORE_AGENT = "before_agent"
    BEFORE_TOOL = "before_tool"
    AFTER_TOOL = "after_tool"
    SECURITY_ALERT = "security_alert"
    SECRET_REQUEST = "secret_request"


class RiskLevel(IntEnum):
    """A tool's inherent risk (the reference's approval matrix). CRITICAL and HIGH need approval."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: "RiskLevel | int | str | None") -> "RiskLevel | None":
        if value is None or isinstance(value, RiskLevel):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        raise ValueError(f"not a risk level: {value!r} (expected none, low, medium, high or critical)")

    @property
    def needs_approval(self) -> bool:
        return self >= RiskLevel.HIGH


class Action(str, Enum):
    """What a hook, a rule or the policy wants. Combining: BLOCK beats ASK beats ALLOW."""

    ALLOW = "allow"
    ASK = "ask"
    BLOCK = "block"

    @classmethod
    def parse(cls, value: "Action | str") -> "Action":
        if isinstance(value, Action):
            return value
        v = str(value).strip().lower()
        if v == "deny":  # rules say "deny"; it means block
            return cls.BLOCK
        return cls(v)

    @property
    def rank(self) -> int:
        return _ACTION_RANK[self]


_ACTION_RANK = {Action.ALLOW: 0, Action.ASK: 1, Action.BLOCK: 2}


class Outcome(str, Enum):
    """The final, recorded decision on one call."""

    ALLOWED = "allowed"    # policy let it through, no human needed
    BLOCKED = "blocked"    # policy, hook or detector refused it, no human asked
    APPROVED = "approved"  # a human (or AIRLOCK_AUTO_APPROVE) said yes
    DENIED = "denied"      # a human said no, or no human could be asked
    TIMEOUT = "timeout"    # the human did not answer in time: denied, never remembered

    @property
    def allowed(self) -> bool:
        return self in (Outcome.ALLOWED, Outcome.APPROVED)


class Scope(str, Enum):
    """How long an approval or denial holds."""

    ONCE = "once"
    SESSION = "session"
    HOUR = "hour"
    ALWAYS = "always"


def utc_iso(ts: float | None = None) -> str:
    """ISO-8601 UTC with microseconds, the audit log's timestamp format."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, tz=timezone.utc).isoformat()


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class AgentIdentity:
    """Who is calling. For socket clients the server fills pid/exe/cmdline/uid from SO_PEERCRED."""

    name: str = "local"
    pid: int = field(default_factory=os.getpid)
    exe: str = ""
    cmdline: str = ""
    uid: int | None = None
    session_id: str = ""
    cwd: str = ""  # relative paths in tool inputs resolve against the agent's cwd, not Airlock's

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "exe": self.exe,
            "cmdline": self.cmdline,
            "uid": self.uid,
            "session_id": self.session_id,
            "cwd": self.cwd,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AgentIdentity":
        uid = d.get("uid")
        return cls(
            name=str(d.get("name") or "unknown"),
            pid=int(d.get("pid") or 0),
            exe=str(d.get("exe") or ""),
            cmdline=str(d.get("cmdline") or ""),
            uid=None if uid is None else int(uid),
            session_id=str(d.get("session_id") or ""),
            cwd=str(d.get("cwd") or ""),
        )


@dataclass(slots=True, kw_only=True)
class Event:
    """Fields every event has."""

    agent: AgentIdentity = field(default_factory=AgentIdentity)
    call_id: str = field(default_factory=_new_id)
    timestamp: float = field(default_factory=time.time)

    kind: "EventKind" = field(init=False, default=EventKind.BEFORE_TOOL)

    def _base_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "agent": self.agent.to_dict(),
            "call_id": self.call_id,
            "timestamp": self.timestamp,
        }

    @property
    def tool_name_or_none(self) -> str | None:
        return getattr(self, "tool_name", None)


@dataclass(slots=True, kw_only=True)
class BeforeAgentEvent(Event):
    """A prompt about to reach the model."""

    prompt: str = ""

    def __post_init__(self) -> None:
        self.kind = EventKind.BEFORE_AGENT

    def to_dict(self) -> dict[str, Any]:
        d = self._base_dict()
        d["prompt"] = self.prompt
        return d


@dataclass(slots=True, kw_only=True)
class BeforeToolEvent(Event):
    """A tool about to run. ``risk`` is what the tool declares (guard(risk=...)); None = ask the policy."""

    tool_name: str = ""
    tool_input: dict[str, Any] = field(default_factory=dict)
    risk: RiskLevel | None = None

    def __post_init__(self) -> None:
        self.kind = EventKind.BEFORE_TOOL

    def to_dict(self) -> dict[str, Any]:
        d = self._base_dict()
        d.update(
            tool_name=self.tool_name,
            tool_input=self.tool_input,
            risk=None if self.risk is None else self.risk.name.lower(),
        )
        return d


@dataclass(slots=True, kw_only=True)
class AfterToolEvent(Event):
    """A tool finished (or failed). ``output`` is scanned for indirect injection."""

    tool_name: str = ""
    tool_input: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: str | None = None
    duration_ms: float = 0.0

    def __post_init__(self) -> None:
        self.kind = EventKind.AFTER_TOOL

    def to_dict(self) -> dict[str, Any]:
        d = self._base_dict()
        d.update(
            tool_name=self.tool_name,
            tool_input=self.tool_input,
            output=self.output,
            error=self.error,
            duration_ms=self.duration_ms,
        )
        return d


AnyEvent = Union[BeforeAgentEvent, BeforeToolEvent, AfterToolEvent]


def event_from_dict(d: dict[str, Any]) -> AnyEvent:
    """Rebuild an event from its wire form. Raises ValueError/TypeError with a clear message on bad input."""
    if not isinstance(d, dict):
        raise TypeError(f"event must be an object, got {type(d).__name__}")
    kind = d.get("kind")
    agent_d = d.get("agent") or {}
    if not isinstance(agent_d, dict):
        raise TypeError("event.agent must be an object")
    common: dict[str, Any] = {"agent": AgentIdentity.from_dict(agent_d)}
    if d.get("call_id") is not None:
        common["call_id"] = str(d["call_id"])
    if d.get("timestamp") is not None:
        common["timestamp"] = float(d["timestamp"])
    if kind == EventKind.BEFORE_AGENT.value:
        prompt = d.get("prompt", "")
        if not isinstance(prompt, str):
            raise TypeError("prompt must be a string")
        return BeforeAgentEvent(prompt=prompt, **common)
    tool_name = d.get("tool_name", "")
    if not isinstance(tool_name, str) or not tool_name:
        raise TypeError("tool_name must be a non-empty string")
    tool_input = d.get("tool_input") or {}
    if not isinstance(tool_input, dict):
        raise TypeError("tool_input must be an object")
    if kind == EventKind.BEFORE_TOOL.value:
        return BeforeToolEvent(
            tool_name=tool_name, tool_input=tool_input, risk=RiskLevel.parse(d.get("risk")), **common
        )
    if kind == EventKind.AFTER_TOOL.value:
        err = d.get("error")
        return AfterToolEvent(
            tool_name=tool_name,
            tool_input=tool_input,
            output=d.get("output"),
            error=None if err is None else str(err),
            duration_ms=float(d.get("duration_ms") or 0.0),
            **common,
        )
    raise ValueError(f"unknown event kind: {kind!r}")


@dataclass(slots=True)
class Verdict:
    """What the automatic layers (hooks, detectors, protected paths, policy) concluded, before any human.

    ``decided_by`` names the deciding layer: ``hook:<name>``, ``injection``,
    ``protected_path``, ``rule:<id>``, ``risk:<level>``, ``default``.
    """

    action: Action
    reason: str = ""
    decided_by: str = "default"
    threat_level: ThreatLevel = ThreatLevel.LOW
    findings: tuple[Finding, ...] = ()
    risk: RiskLevel = RiskLevel.MEDIUM
    rule_id: str | None = None
    modified_input: dict[str, Any] | None = None
    hook_errors: tuple[str, ...] = ()
    #: a CRITICAL injection block that no approver (not even auto-approve) may override
    hard_block: bool = False


@dataclass(slots=True)
class ApprovalRequest:
    """What an approver is asked: the event, and why the automatic layers could not decide alone."""

    event: AnyEvent
    verdict: Verdict
    request_id: str = field(default_factory=_new_id)
    created: float = field(default_factory=time.time)


@dataclass(slots=True)
class ApprovalDecision:
    """An approver's answer. ``decided_by``: ``user``, ``timeout``, ``auto-approve``, ``deny-all``, ``terminal``."""

    approved: bool
    decided_by: str
    reason: str = ""
    scope: Scope = Scope.ONCE
    timed_out: bool = False


@dataclass(slots=True)
class Decision:
    """The settled answer for one call: what the agent is told and what the audit log records."""

    outcome: Outcome
    reason: str
    decided_by: str
    verdict: Verdict
    tool_input: dict[str, Any] | None = None
    auto_approved: bool = False
    # after_tool only: the output as the agent should get it, when a hook filtered it (else None)
    output: Any = None
    output_changed: bool = False

    @property
    def allowed(self) -> bool:
        return self.outcome.allowed


@dataclass(slots=True)
class AuditRecord:
    """One line of ``audit.jsonl``. The reference's fields first, then Airlock's.

    ``seq``, ``prev_hash`` and ``hash`` are filled by the audit writer (the chain).
    """

    timestamp: str
    session_id: str
    agent_name: str
    tool_name: str | None
    tool_input: Any
    execution_time_ms: float | None
    error: str | None
    event: str
    decision: str
    decided_by: str
    threat_level: str = "LOW"
    findings: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    risk: str | None = None
    rule_id: str | None = None
    call_id: str = ""
    agent: dict[str, Any] = field(default_factory=dict)
    auto_approved: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    seq: int = -1
    prev_hash: str = ""
    hash: str = ""

    _FIELDS = (
        "timestamp", "session_id", "agent_name", "tool_name", "tool_input", "execution_time_ms",
        "error", "event", "decision", "decided_by", "threat_level", "findings", "reason", "risk",
        "rule_id", "call_id", "agent", "auto_approved", "extra", "seq", "prev_hash", "hash",
    )

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._FIELDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AuditRecord":
        kwargs = {name: d[name] for name in cls._FIELDS if name in d}
        for required in ("timestamp", "session_id", "agent_name", "tool_name", "tool_input",
                         "execution_time_ms", "error", "event", "decision", "decided_by"):
            kwargs.setdefault(required, None)
        return cls(**kwargs)

    @classmethod
    def from_decision(cls, event: AnyEvent, decision: Decision) -> "AuditRecord":
        """The record for a settled decision on any event (the engine adds after_tool's timing)."""
        v = decision.verdict
        tool_input: Any
        if isinstance(event, BeforeAgentEvent):
            tool_input = {"prompt": event.prompt}
        else:
            tool_input = event.tool_input
        return cls(
            timestamp=utc_iso(),
            session_id=event.agent.session_id,
            agent_name=event.agent.name,
            tool_name=getattr(event, "tool_name", None),
            tool_input=tool_input,
            execution_time_ms=None,
            error=None,
            event=event.kind.value,
            decision=decision.outcome.value,
            decided_by=decision.decided_by,
            threat_level=v.threat_level.name,
            findings=[f.to_dict() for f in v.findings],
            reason=decision.reason,
            risk=v.risk.name.lower(),
            rule_id=v.rule_id,
            call_id=event.call_id,
            agent=event.agent.to_dict(),
            auto_approved=decision.auto_approved,
        )


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """A ``Decision`` (with its ``Verdict``) in wire form, for the socket protocol."""
    v = decision.verdict
    return {
        "outcome": decision.outcome.value,
        "reason": decision.reason,
        "decided_by": decision.decided_by,
        "tool_input": decision.tool_input,
        "auto_approved": decision.auto_approved,
        **({"output": decision.output} if decision.output_changed else {}),
        "verdict": {
            "action": v.action.value,
            "reason": v.reason,
            "decided_by": v.decided_by,
            "threat_level": v.threat_level.name,
            "findings": [f.to_dict() for f in v.findings],
            "risk": v.risk.name.lower(),
            "rule_id": v.rule_id,
            "modified_input": v.modified_input,
            "hook_errors": list(v.hook_errors),
            "hard_block": v.hard_block,
        },
    }


def decision_from_dict(d: dict[str, Any]) -> Decision:
    """Rebuild a ``Decision`` from ``decision_to_dict``. Raises ValueError/TypeError/KeyError on bad input."""
    if not isinstance(d, dict):
        raise TypeError(f"decision must be an object, got {type(d).__name__}")
    vd = d.get("verdict")
    vd = {} if vd is None else vd
    if not isinstance(vd, dict):
        raise TypeError("decision.verdict must be an object")
    tool_input = d.get("tool_input")
    if tool_input is not None and not isinstance(tool_input, dict):
        raise TypeError("decision.tool_input must be an object or null")
    modified = vd.get("modified_input")
    verdict = Verdict(
        action=Action.parse(vd.get("action", "block")),
        reason=str(vd.get("reason") or ""),
        decided_by=str(vd.get("decided_by") or "default"),
        threat_level=ThreatLevel.parse(vd.get("threat_level") or "LOW"),
        findings=tuple(Finding.from_dict(f) for f in (vd.get("findings") or ())),
        risk=RiskLevel.parse(vd.get("risk") or "medium") or RiskLevel.MEDIUM,
        rule_id=None if vd.get("rule_id") is None else str(vd["rule_id"]),
        modified_input=modified if isinstance(modified, dict) else None,
        hook_errors=tuple(str(e) for e in (vd.get("hook_errors") or ())),
        hard_block=bool(vd.get("hard_block", False)),
    )
    return Decision(
        outcome=Outcome(d["outcome"]),
        reason=str(d.get("reason") or ""),
        decided_by=str(d.get("decided_by") or ""),
        verdict=verdict,
        tool_input=tool_input,
        auto_approved=bool(d.get("auto_approved", False)),
        output=d.get("output"),
        output_changed="output" in d,
    )
