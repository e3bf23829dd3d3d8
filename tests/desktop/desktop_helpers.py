"""Building real core requests for the widget tests."""

from __future__ import annotations

from airlock.events import (Action, AgentIdentity, ApprovalRequest, BeforeToolEvent, RiskLevel, Verdict)
from airlock.threat import Finding, Severity, ThreatLevel


def make_request(tool: str = "execute_command", tool_input: dict | None = None, name: str = "agent-a",
                 pid: int = 4242, findings: tuple = (), session: str = "s1") -> ApprovalRequest:
    ev = BeforeToolEvent(
        tool_name=tool,
        tool_input=tool_input if tool_input is not None else {"command": "rm -rf /tmp/x"},
        agent=AgentIdentity(name=name, pid=pid, exe="/usr/bin/python3", cmdline="python3 agent.py --task x",
                            session_id=session),
    )
    v = Verdict(Action.ASK, f"{tool} is a critical-risk tool and needs approval", "risk:critical",
                risk=RiskLevel.CRITICAL, findings=findings,
                threat_level=ThreatLevel.HIGH if findings else ThreatLevel.LOW)
    return ApprovalRequest(event=ev, verdict=v)


def injection_finding(evidence: str = "ignore all previous instructions") -> Finding:
    return Finding("instruction_override", 0, len(evidence), evidence, Severity.DANGEROUS, location="command")
