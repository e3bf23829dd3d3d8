"""Rate limits and anomaly rules with known inputs, plus their effect through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from airlock.audit import AuditLog, iter_records
from airlock.engine import Engine
from airlock.events import AfterToolEvent, AgentIdentity, ApprovalDecision, BeforeToolEvent, Outcome
from airlock.hooks import HookRegistry
from airlock.monitor import Limit, RateLimited, RateLimiter, parse_limit, rate_limit
from airlock.monitor.anomaly import Anomaly, AnomalyDetector, severity_of
from airlock.monitor.service import Monitor
from airlock.policy import PolicyStore

T0 = 1_800_000_000.0  # a minute boundary


def test_parse_limit() -> None:
    assert parse_limit("60/min") == Limit(60, 60)
    assert parse_limit("5/10s") == Limit(5, 10)
    assert parse_limit("1000 / hour") == Limit(1000, 3600)
    for bad in ("", "60", "0/min", "x/min", "5/fortnight"):
        with pytest.raises(ValueError):
            parse_limit(bad)


def test_token_bucket_burst_then_refill() -> None:
    rl = RateLimiter(per_agent="100/min", per_tool="3/min")
    assert [rl.check("a", "t", now=0.0).allowed for _ in range(4)] == [True, True, True, False]
    refused = rl.check("a", "t", now=0.0)
    assert refused.retry_after == pytest.approx(20.0) and "retry in 20.00 s" in refused.reason
    assert rl.check("a", "t", now=20.0).allowed          # one token back after 20 s
    assert rl.check("a", "other", now=0.0).allowed       # other tools have their own bucket
    assert rl.check("b", "t", now=0.0).allowed           # other agents too


def test_per_tool_override_and_agent_limit() -> None:
    rl = RateLimiter(per_agent="5/min", per_tool="100/min", tools={"execute_command": "1/min"})
    assert rl.check("a", "execute_command", now=0).allowed
    assert not rl.check("a", "execute_command", now=0).allowed
    for _ in range(4):
        assert rl.check("a", "read_file", now=0).allowed
    assert "agent 'a'" in rl.check("a", "read_file", now=0).reason


def test_reference_decorator() -> None:
    calls: list[str] = []

    @rate_limit(max_attempts=2, window_seconds=60, key=lambda user, *_: user)
    def login(user: str) -> str:
        calls.append(user)
        return "ok"

    assert login("ann") == "ok" and login("ann") == "ok"
    with pytest.raises(RateLimited) as err:
        login("ann")
    assert err.value.retry_after > 59 and login("bob") == "ok"
    assert calls == ["ann", "ann", "bob"]


def steady(det: AnomalyDetector, minutes: int, per_minute: int, tools: tuple[str, ...] = ("read_file",)) -> list:
    alerts = []
    for m in range(minutes):
        for i in range(per_minute):
            a = det.observe_call("bot", "/usr/bin/python3", tool=tools[i % len(tools)], uid=1000,
                                 now=T0 + m * 60 + i * (59 / per_minute))
            if a:
                alerts.append(a)
    return alerts


def test_steady_agent_raises_nothing_and_a_burst_is_caught() -> None:
    det = AnomalyDetector()
    assert steady(det, 30, 6) == []
    burst = [det.observe_call("bot", "/usr/bin/python3", tool="read_file", uid=1000, now=T0 + 30 * 60 + i * 0.1)
             for i in range(60)]
    fired = [i for i, a in enumerate(burst) if a]
    assert fired and fired[0] < 25  # usual rate 6/min: caught by the ~20th call of the burst minute
    assert burst[fired[0]].anomalies[0].signal == "call_rate" and burst[fired[0]].severity == "high"
    assert len(fired) == 1  # coalesced


def test_rate_rule_waits_for_more_than_ten_samples() -> None:
    det = AnomalyDetector()
    steady(det, 5, 2)
    assert not any(det.observe_call("bot", "/usr/bin/python3", tool="read_file", now=T0 + 5 * 60 + i)
                   for i in range(50))


def test_error_rate_rule() -> None:
    det = AnomalyDetector()
    results = [det.observe_result("bot", "x", error=i % 3 == 0, now=T0 + i) for i in range(30)]
    assert not any(results)  # a third failing is not an anomaly
    storm = [det.observe_result("bot", "x", error=True, now=T0 + 100 + i) for i in range(20)]
    assert any(a and a.anomalies[0].signal == "error_rate" for a in storm)


def test_token_rule() -> None:
    det = AnomalyDetector()
    assert not any(det.observe_tokens("bot", "x", 1000 + i, now=T0 + i) for i in range(12))
    a = det.observe_tokens("bot", "x", 9000, now=T0 + 20)
    assert a and a.anomalies[0].signal == "token_usage" and a.severity == "high"


def test_new_source_new_tool_new_sensitive_path(tmp_path: Path) -> None:
    det = AnomalyDetector()
    steady(det, 12, 5)
    a = det.observe_call("bot", "/tmp/evil/python", tool="read_file", uid=1000, now=T0 + 13 * 60)
    assert a and {x.signal for x in a.anomalies} == {"new_source"}
    b = det.observe_call("bot", "/usr/bin/python3", tool="execute_command", uid=1000, now=T0 + 13 * 60 + 1)
    assert b and b.anomalies[0].signal == "new_tool" and b.severity == "medium"
    c = det.observe_call("bot", "/usr/bin/python3", tool="read_file", uid=1000, now=T0 + 13 * 60 + 2,
                         paths=[("/home/u/.ssh/id_rsa", True), ("notes.txt", False)])
    assert c and c.anomalies[0].signal == "new_sensitive_path"
    assert det.observe_call("bot", "/usr/bin/python3", tool="read_file", uid=1000, now=T0 + 13 * 60 + 3,
                            paths=[("/home/u/.ssh/id_rsa", True)]) is None


def test_new_tool_is_silent_during_warmup() -> None:
    det = AnomalyDetector()
    steady(det, 3, 5)
    assert det.observe_call("bot", "/usr/bin/python3", tool="write_file", uid=1000, now=T0 + 200) is None


def test_severity_table() -> None:
    assert severity_of([Anomaly("new_tool", ""), Anomaly("new_source", ""), Anomaly("error_rate", "")]) == "critical"
    assert severity_of([Anomaly("token_usage", "")]) == "high"
    assert severity_of([Anomaly("new_tool", "")]) == "medium"


def test_baselines_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "monitor.json"
    det = AnomalyDetector(state)
    steady(det, 12, 5)
    det.save()
    again = AnomalyDetector(state)
    a = again.observe_call("bot", "/usr/bin/python3", tool="delete_file", uid=1000, now=T0 + 13 * 60)
    assert a and a.anomalies[0].signal == "new_tool"
    state.write_text("{not json")
    assert AnomalyDetector(state).baselines == {}  # a corrupt file starts fresh, never crashes


class Approve:
    def decide(self, request: object) -> ApprovalDecision:
        return ApprovalDecision(True, "user")


def test_engine_rate_limit_alert_and_pause(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[limits]\ntools = { read_file = "3/min" }\n')
    seen = []
    monitor = Monitor(pause_on_alert=True)
    monitor.sinks.append(seen.append)
    engine = Engine(hooks=HookRegistry(), audit=AuditLog(tmp_path / "audit.jsonl"), policy=PolicyStore(policy),
                    monitor=monitor, approver=Approve())
    agent = AgentIdentity(name="bot", exe="/usr/bin/python3")
    outcomes = [engine.before_tool(BeforeToolEvent(tool_name="read_file", tool_input={"path": "a"},
                                                   agent=agent)) for _ in range(8)]
    assert [d.outcome for d in outcomes[:3]] == [Outcome.ALLOWED] * 3
    assert outcomes[3].outcome is Outcome.BLOCKED and "retry in" in outcomes[3].reason
    recs = list(iter_records(tmp_path / "audit.jsonl"))
    alerts = [r for r in recs if r["event"] == "security_alert"]
    assert alerts and alerts[0]["extra"]["anomalies"][0]["signal"] == "rate_limit_hits"
    assert seen and monitor.pending_alerts()
    # paused: the next allowed-looking call is asked (our approver says yes, so it is "approved")
    d = engine.before_tool(BeforeToolEvent(tool_name="list_files", tool_input={}, agent=agent))
    assert d.outcome is Outcome.APPROVED and d.decided_by == "user"
    assert monitor.resume("bot")
    assert monitor.acknowledge() >= 1 and not monitor.pending_alerts()
    engine.after_tool(AfterToolEvent(tool_name="list_files", agent=agent, error="boom"))
