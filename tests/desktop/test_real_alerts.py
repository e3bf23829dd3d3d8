"""Issue 7's proof on a real desktop: a real client bursts through the socket, the monitor raises a
``security_alert`` into the audit log, and the tray app's notification reaches dunst."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.desktop.test_real_desktop import _records, _wait, tray_app  # noqa: F401  (fixture)

pytestmark = [pytest.mark.desktop, pytest.mark.timeout(120)]


def _dunst_history() -> str:
    if shutil.which("dunstctl") is None:
        pytest.skip("dunstctl is not installed (desktop-env.sh installs dunst)")
    return subprocess.run(["dunstctl", "history"], capture_output=True, text=True, timeout=10).stdout


def test_burst_raises_an_alert_in_the_audit_log_and_a_notification(tray_app, tmp_path: Path) -> None:  # noqa: F811
    from airlock._client import Client, RemoteDecider
    from airlock.events import BeforeToolEvent, Outcome

    _, sock, audit = tray_app
    (tmp_path / "policy.toml").write_text('[limits]\ntools = { read_file = "3/min" }\n')
    decider = RemoteDecider(Client(sock, agent_name="bursty-agent"))
    outcomes = [decider.before_tool(BeforeToolEvent(tool_name="read_file", tool_input={"path": "README.md"})).outcome
                for _ in range(10)]
    assert outcomes[:3] == [Outcome.ALLOWED] * 3 and outcomes[-1] is Outcome.BLOCKED

    alert = _wait(lambda: next((r for r in _records(audit) if r["event"] == "security_alert"), None), 10,
                  "a security_alert record")
    assert alert["agent_name"] == "bursty-agent" and alert["threat_level"] == "HIGH"
    assert alert["extra"]["anomalies"][0]["signal"] == "rate_limit_hits"
    refused = [r for r in _records(audit) if r["decided_by"] == "rate_limit"]
    assert refused and "retry in" in refused[0]["reason"]
    _wait(lambda: "bursty-agent" in _dunst_history() and "Airlock alert" in _dunst_history(), 15,
          "the alert notification in dunstctl history")
