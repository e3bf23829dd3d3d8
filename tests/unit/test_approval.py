"""Built-in approvers: deny-all, a real terminal prompt (pty), auto-approve from the environment."""

from __future__ import annotations

import io
import os
import pty
import threading
import time

from airlock.approval import AutoApprover, DenyAllApprover, TerminalApprover, default_approver
from airlock.events import Action, ApprovalRequest, BeforeToolEvent, RiskLevel, Verdict


def request(hard: bool = False) -> ApprovalRequest:
    ev = BeforeToolEvent(tool_name="execute_command", tool_input={"cmd": "ls"}, risk=RiskLevel.CRITICAL)
    return ApprovalRequest(ev, Verdict(Action.ASK, "critical tool", "risk:critical", risk=RiskLevel.CRITICAL,
                                       hard_block=hard))


def test_deny_all_denies_with_a_reason() -> None:
    d = DenyAllApprover().decide(request())
    assert not d.approved and d.decided_by == "deny-all" and "no approver" in d.reason


def test_auto_approve_approves_loudly_but_never_a_hard_block() -> None:
    out = io.StringIO()
    d = AutoApprover(stream=out).decide(request())
    assert d.approved and d.decided_by == "auto-approve"
    assert "WARNING" in out.getvalue() and "execute_command" in out.getvalue()
    assert not AutoApprover(stream=out).decide(request(hard=True)).approved


def test_default_approver_follows_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIRLOCK_AUTO_APPROVE", "1")
    assert isinstance(default_approver(), AutoApprover)
    monkeypatch.setenv("AIRLOCK_AUTO_APPROVE", "0")
    # pytest's stdin is not a terminal: nobody can be asked
    assert isinstance(default_approver(), DenyAllApprover)


def _terminal(answer: bytes | None, timeout: float) -> tuple[object, str]:
    master, slave = pty.openpty()
    stdin = os.fdopen(slave, "r", buffering=1)
    out = io.StringIO()
    approver = TerminalApprover(timeout=timeout, stdin=stdin, stdout=out)
    if answer is not None:
        threading.Timer(0.1, lambda: os.write(master, answer)).start()
    try:
        return approver.decide(request()), out.getvalue()
    finally:
        stdin.close()
        os.close(master)


def test_terminal_prompt_on_a_real_pty() -> None:
    decision, shown = _terminal(b"y\n", timeout=5)
    assert decision.approved and decision.decided_by == "user"  # type: ignore[attr-defined]
    assert "execute_command" in shown and "Approve?" in shown
    decision, _ = _terminal(b"n\n", timeout=5)
    assert not decision.approved  # type: ignore[attr-defined]


def test_terminal_prompt_times_out_as_a_denial() -> None:
    t0 = time.monotonic()
    decision, _ = _terminal(None, timeout=0.3)
    assert not decision.approved and decision.timed_out and decision.decided_by == "timeout"  # type: ignore[attr-defined]
    assert time.monotonic() - t0 < 3


def test_answer_covers_follows_the_engines_memory_rules() -> None:
    from airlock.approval import answer_covers
    from airlock.events import (Action, AgentIdentity, ApprovalRequest, BeforeToolEvent, RiskLevel, Scope,
                                Verdict)
    from airlock.policy import parse_policy

    def req(tool: str, session: str = "s1", decided_by: str = "risk:critical", **inp: object) -> ApprovalRequest:
        ev = BeforeToolEvent(tool_name=tool, tool_input=dict(inp), agent=AgentIdentity(name="a", session_id=session))
        return ApprovalRequest(event=ev, verdict=Verdict(Action.ASK, "why", decided_by, risk=RiskLevel.CRITICAL))

    base = req("execute_command", command="ls")
    assert answer_covers(base, True, Scope.SESSION, req("execute_command", command="pwd"))
    assert not answer_covers(base, True, Scope.SESSION, req("execute_command", session="s2", command="pwd"))
    assert not answer_covers(base, True, Scope.SESSION, req("kill_process", pid=1))
    assert not answer_covers(base, True, Scope.ONCE, req("execute_command", command="pwd"))
    # an approval never covers an injection ask; a denial may
    flagged = req("execute_command", decided_by="injection", command="pwd")
    assert not answer_covers(base, True, Scope.SESSION, flagged)
    assert answer_covers(base, False, Scope.SESSION, flagged)
    rule = parse_policy('[[rule]]\nid="k"\ntool="kill_process"\naction="deny"\n').rules[0]
    assert answer_covers(base, False, Scope.ALWAYS, req("kill_process", pid=9), rule)
    assert not answer_covers(base, False, Scope.ALWAYS, req("execute_command", command="x"), rule)
