"""Audit window (model, query, tail), rules window, tray states, pause, notifications, CLI: offscreen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from airlock.audit import AuditLog
from airlock.events import (Action, AgentIdentity, AuditRecord, BeforeToolEvent, Decision, Outcome, RiskLevel,
                            Verdict)
from airlock.hooks import HookRegistry
from airlock.engine import Engine
from airlock.policy import PolicyStore
from airlock_desktop._pause import Pause
from airlock_desktop.audit_window import AuditWindow
from airlock_desktop.audit_window.model import AuditModel
from airlock_desktop.audit_window.state import Tail, matches, parse_query
from airlock_desktop.notify import Notifier
from airlock_desktop.rules_window import RulesWindow
from airlock_desktop.tray import STATES, TrayController, icon_path

REPO = Path(__file__).resolve().parents[2]


def _write(log: AuditLog, agent: str, tool: str, outcome: Outcome, by: str = "default") -> None:
    ev = BeforeToolEvent(tool_name=tool, tool_input={"path": f"/tmp/{tool}"}, agent=AgentIdentity(name=agent))
    v = Verdict(Action.ALLOW, "", by, risk=RiskLevel.LOW)
    log.append(AuditRecord.from_decision(ev, Decision(outcome, f"{outcome.value} by {by}", by, v, ev.tool_input)))


def test_query_parsing_and_matching():
    q = parse_query("agent:bot tool:read decision:den level:high secret words")
    assert (q.agent, q.tool, q.decision, q.level, q.words) == ("bot", "read", "den", "high", ["secret", "words"])
    rec = {"agent_name": "my-bot", "tool_name": "read_file", "decision": "denied", "threat_level": "HIGH",
           "reason": "Secret Words here", "tool_input": {}}
    assert matches(rec, q)
    assert not matches(rec, parse_query("agent:other"))
    assert not matches(rec, parse_query("missing"))
    t0 = time.perf_counter()
    parse_query("a:" * 100_000)  # adversarial: linear
    matches({"reason": "x" * 1_000_000}, parse_query("y" * 1000))
    assert time.perf_counter() - t0 < 2


def test_tail_handles_partial_lines_truncation_and_rotation(tmp_path):
    p = tmp_path / "a.jsonl"
    t = Tail(p)
    assert t.read_new() == []
    p.write_bytes(b'{"n":1}\n{"n":2')
    assert [r["n"] for r in t.read_new()] == [1]
    with open(p, "ab") as f:
        f.write(b'}\nnot json\n[1]\n')
    assert [r["n"] for r in t.read_new()] == [2]
    p.write_bytes(b'{"n":3}\n')  # truncated and rewritten (smaller)
    assert [r["n"] for r in t.read_new()] == [3]
    os.rename(p, tmp_path / "a.jsonl.1")  # rotated: new inode
    p.write_bytes(b'{"n":4}\n{"n":5}\n')
    assert [r["n"] for r in t.read_new()] == [4, 5]


def test_model_filter_sort_append(qtbot):
    m = AuditModel()
    recs = [{"timestamp": f"2026-01-01T00:00:0{i}", "agent_name": a, "tool_name": t, "decision": d}
            for i, (a, t, d) in enumerate([("x", "read_file", "allowed"), ("y", "shell", "denied"),
                                           ("x", "shell", "blocked")])]
    m.set_records(recs)
    assert m.rowCount() == 3
    m.set_query(parse_query("agent:x"))
    assert [m.record_at(i)["tool_name"] for i in range(m.rowCount())] == ["read_file", "shell"]
    m.sort(2, Qt.SortOrder.DescendingOrder)
    assert m.record_at(0)["tool_name"] == "shell"
    m.append([{"agent_name": "x", "tool_name": "a_tool", "decision": "allowed"},
              {"agent_name": "z", "tool_name": "zzz", "decision": "allowed"}])
    assert m.rowCount() == 3 and m.record_at(2)["tool_name"] == "a_tool"


def test_audit_window_loads_follows_verifies_and_exports(qtbot, tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    _write(log, "bot", "read_file", Outcome.ALLOWED)
    _write(log, "bot", "execute_command", Outcome.DENIED, "user")
    w = AuditWindow(path)
    qtbot.addWidget(w)
    w.show()
    assert w.model.rowCount() == 2
    qtbot.waitUntil(lambda: "intact, 2 records" in w.status.text(), timeout=5000)
    t0 = time.monotonic()
    _write(log, "other", "write_file", Outcome.TIMEOUT, "timeout")
    qtbot.waitUntil(lambda: w.model.rowCount() == 3, timeout=3000)
    latency = time.monotonic() - t0
    assert latency < 1.5, latency
    w.search.setText("decision:timeout")
    qtbot.waitUntil(lambda: w.model.rowCount() == 1, timeout=2000)
    out = w.export("jsonl", str(tmp_path / "view.jsonl"))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["decided_by"] for r in rows] == ["timeout"]
    w.export("csv", str(tmp_path / "view.csv"))
    assert "write_file" in (tmp_path / "view.csv").read_text()
    # tampering shows up in the status line
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("read_file", "read_fil3")
    path.write_text("\n".join(lines) + "\n")
    w.verify()
    qtbot.waitUntil(lambda: "BROKEN" in w.status.text(), timeout=5000)
    w.close()


def test_rules_window_add_delete_through_policy_store(qtbot, tmp_path):
    store = PolicyStore(tmp_path / "policy.toml")
    w = RulesWindow(store)
    qtbot.addWidget(w)
    assert w.table.rowCount() == 0
    rule = w.add_rule(tool="read_file", action="allow", args={"path": "/tmp/*"}, agent=None, expires_in=600,
                      comment="test")
    assert rule is not None and w.table.rowCount() == 1
    assert w.table.item(0, 2).text() == "read_file" and "in " in w.table.item(0, 5).text()
    ev = BeforeToolEvent(tool_name="read_file", tool_input={"path": "/tmp/x"})
    assert store.match(ev).rule.id == rule.id  # in force immediately
    w.search.setText("nomatch")
    assert w.table.rowCount() == 0
    w.search.setText("")
    w.table.selectRow(0)
    assert w.delete_selected(confirm=False) == 1
    assert w.table.rowCount() == 0 and store.match(ev) is None


def test_tray_states_and_fallback_window(qtbot):
    for s in STATES:
        assert icon_path(s).exists(), s
    t = TrayController(force_window=True)  # offscreen has no tray: the small window must appear
    assert t.window is not None and t.window.isVisible()
    t.set_state("pending", "2 waiting")
    assert "approval needed" in t.status_label.text()
    t.set_pending(2)
    assert t.pending_action.text() == "2 pending approvals" and t.pending_action.isEnabled()
    with pytest.raises(ValueError):
        t.set_state("bogus")
    with qtbot.waitSignal(t.pause_requested) as sig:
        t.pause_menu.actions()[1].trigger()
    assert sig.args == [3600]
    t.hide()


def test_pause_asks_everything_even_allowed_by_rule(tmp_path):
    store = PolicyStore(tmp_path / "policy.toml")
    store.add_rule("read_file", "allow")
    asked = []

    class Approver:
        def decide(self, req):
            from airlock.events import ApprovalDecision
            asked.append(req)
            return ApprovalDecision(False, "user", "no")

    eng = Engine(hooks=HookRegistry(), policy=store, approver=Approver())
    ev = lambda: BeforeToolEvent(tool_name="read_file", tool_input={"path": "/tmp/a"})  # noqa: E731
    assert eng.before_tool(ev()).outcome is Outcome.ALLOWED
    pause = Pause(eng.hooks)
    pause.start(60)
    d = eng.before_tool(ev())
    assert d.outcome is Outcome.DENIED and len(asked) == 1 and "paused" in asked[0].verdict.reason
    pause.stop()
    assert eng.before_tool(ev()).outcome is Outcome.ALLOWED


def test_notifier_coalesces_bursts(qtbot, monkeypatch):
    import airlock_desktop.notify as n

    monkeypatch.setattr(n, "send_dbus", lambda *a, **k: (_ for _ in ()).throw(OSError("no bus")))
    fallback = []
    nt = Notifier(fallback=lambda s, b: fallback.append(s), burst=0.5)
    for _ in range(10):
        nt.notify("injection", "blocked")
    assert fallback == ["blocked"]
    qtbot.waitUntil(lambda: len(fallback) == 2, timeout=3000)
    assert fallback[1] == "blocked (+9 more)"


def test_cli_tray_fails_clearly_without_pyside6(tmp_path):
    blocker = tmp_path / "PySide6"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('PySide6 blocked for this test')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}:{REPO / 'core'}:{REPO / 'desktop'}")
    r = subprocess.run([sys.executable, "-m", "airlock", "tray"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 4 and "PySide6-Essentials" in r.stderr and "Traceback" not in r.stderr
