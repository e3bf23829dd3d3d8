"""Anomaly alerts in the tray: listed, acknowledged, and able to pause an agent (offscreen widgets)."""

from __future__ import annotations

from pathlib import Path

from airlock.events import AgentIdentity, BeforeToolEvent, Outcome


def test_alert_records_reach_the_tray_menu_and_pause_an_agent(qtbot, tmp_path: Path) -> None:
    from airlock_desktop.app import AirlockApp

    app = AirlockApp(socket_path=tmp_path / "s.sock", audit_path=tmp_path / "audit.jsonl",
                     policy_path=tmp_path / "policy.toml", host_server=False, force_window=True)
    sent: list[tuple[str, str]] = []
    app.notifier.notify = lambda category, summary, body="", urgent=False: sent.append((category, summary))
    record = {"event": "security_alert", "agent_name": "bot", "threat_level": "HIGH",
              "reason": "120 calls this minute; usually 6.0 ± 2.0", "extra": {"agent": "bot", "severity": "high"}}
    app._server_up = True  # as if the server ran; server-down would outrank the alert state
    app._on_records([record])
    menu = app.tray.alerts_menu
    assert menu.title() == "1 alert" and menu.isEnabled()
    texts = [a.text() for a in menu.actions()]
    assert any("120 calls this minute" in t for t in texts)
    assert sent and sent[0][0] == "alert"
    assert app.tray.state == "alert"
    # "Pause agent bot": its next call is asked, even for a no-risk tool
    pause = next(a for a in menu.actions() if a.text().strip().startswith("Pause agent bot"))
    pause.trigger()
    assert "bot" in app.engine.monitor.paused_agents
    d = app.engine.before_tool(BeforeToolEvent(tool_name="list_files", tool_input={},
                                               agent=AgentIdentity(name="bot")))
    assert d.outcome in (Outcome.DENIED, Outcome.TIMEOUT) and d.verdict.decided_by == "paused"
    resume = next(a for a in menu.actions() if a.text().startswith("Resume agent bot"))
    resume.trigger()
    assert "bot" not in app.engine.monitor.paused_agents
    app.acknowledge_alerts()
    assert app.tray.alerts_menu.title() == "No alerts" and app.alerts == []
