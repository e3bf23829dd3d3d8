"""The approval popup for key requests and masked tool input, offscreen, with the real request the
key broker builds (``SecretBroker`` asks through the same ``QtApprover`` path as tools)."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from airlock.events import AgentIdentity, Scope
from airlock.keystore import SecretBroker, open_store
from airlock_desktop.approval_dialog import ApprovalDialog, ApprovalQueue
from airlock_desktop.approval_dialog.dialog import SECRET_SCOPE_LABELS
from airlock_desktop.qt_approver import ApprovalBridge, QtApprover
from desktop_helpers import make_request

import pytest

from airlock.redaction import KNOWN


@pytest.fixture(autouse=True)
def _forget_known_values():
    yield
    KNOWN.clear()  # stored keys are registered process-wide; later tests must not see them


KEY = "sk-proj-" + "Q7vX2mN9pL4kR8sT1wY6zA3bC5dE0fG7hJ2kL9mN4pQ8rS1t"


class _Capture:
    """A real Approver that keeps the request the broker built and denies."""

    def __init__(self) -> None:
        self.request = None

    def decide(self, request):
        from airlock.events import ApprovalDecision

        self.request = request
        return ApprovalDecision(False, "user", "captured")


def _secret_request(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", "pw")
    store = open_store(prefer="file")
    store.set("OPENAI_API_KEY", KEY)
    cap = _Capture()
    broker = SecretBroker(store, cap, grants_path=tmp_path / "grants.json")
    agent = AgentIdentity(name="writer-bot", pid=31337, exe="/usr/bin/python3", session_id="s-9")
    try:
        broker.release("OPENAI_API_KEY", agent)
    except Exception:
        pass
    assert cap.request is not None
    return cap.request, broker


def test_secret_request_wording_scopes_and_no_input(qtbot, monkeypatch, tmp_path):
    req, _ = _secret_request(monkeypatch, tmp_path)
    dlg = ApprovalDialog(req, timeout=30, arm_delay_ms=0)
    qtbot.addWidget(dlg)
    dlg.show()
    title = dlg.findChild(type(dlg.countdown), "title").text()
    assert "writer-bot" in title and "31337" in title and "OPENAI_API_KEY" in title and "asks for the key" in title
    assert dlg.windowTitle() == "Airlock: key requested"
    assert not dlg.input_view.isVisible()  # nothing to show: the agent sent only a name
    assert dlg.findChild(type(dlg.countdown), "secretNote").isVisible()
    labels = [dlg.scope_box.itemText(i) for i in range(dlg.scope_box.count())]
    assert labels == [label for _, label in SECRET_SCOPE_LABELS] == ["Once", "For this agent session",
                                                                    "Always for this agent"]
    dlg.scope_box.setCurrentIndex(2)
    assert not dlg.rule_box.isVisible()  # the broker remembers "always"; no policy rule is drafted
    got = []
    dlg.answered.connect(got.append)
    qtbot.mouseClick(dlg.approve_btn, Qt.MouseButton.LeftButton)
    assert got[0].approved and got[0].scope is Scope.ALWAYS and got[0].rule is None and not got[0].error
    assert KEY not in dlg.findChild(type(dlg.countdown), "title").text()


def test_secret_popup_answer_reaches_the_broker(qtbot, monkeypatch, tmp_path):
    """Broker -> QtApprover -> queue -> dialog -> click: "for this session" releases the key and is remembered."""
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", "pw")
    store = open_store(prefer="file")
    store.set("OPENAI_API_KEY", KEY)
    bridge = ApprovalBridge()
    queue = ApprovalQueue(timeout=30, arm_delay_ms=0)
    bridge.requested.connect(queue.submit)
    broker = SecretBroker(store, QtApprover(bridge, timeout=30), grants_path=tmp_path / "grants.json")
    agent = AgentIdentity(name="writer-bot", pid=31337, session_id="s-9")
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("v", broker.release("OPENAI_API_KEY", agent)))
    t.start()
    qtbot.waitUntil(lambda: queue.dialog is not None, timeout=5000)
    dlg = queue.dialog
    assert dlg.secret
    dlg.scope_box.setCurrentIndex(1)
    qtbot.mouseClick(dlg.approve_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=5000)
    assert out["v"] == KEY
    assert broker.release("OPENAI_API_KEY", agent) == KEY  # same session: no second popup
    assert queue.dialog is None


def test_tool_input_secrets_masked_with_reveal(qtbot):
    req = make_request(tool_input={"command": f"curl -H 'Authorization: Bearer {KEY}' https://api.example.com",
                                   "path": "/tmp/out.txt"})
    dlg = ApprovalDialog(req, timeout=30, arm_delay_ms=0)
    qtbot.addWidget(dlg)
    dlg.show()
    text = dlg.input_view.toPlainText()
    assert KEY not in text and "REDACTED" in text and "/tmp/out.txt" in text
    assert dlg.reveal_box.isVisible() and not dlg.reveal_box.isChecked()
    qtbot.mouseClick(dlg.reveal_box, Qt.MouseButton.LeftButton)
    assert KEY in dlg.input_view.toPlainText()
    dlg.reveal_box.setChecked(False)
    assert KEY not in dlg.input_view.toPlainText()


def test_plain_input_has_no_reveal_box(qtbot):
    dlg = ApprovalDialog(make_request(tool_input={"command": "ls -la /tmp"}), timeout=30, arm_delay_ms=0)
    qtbot.addWidget(dlg)
    dlg.show()
    assert "ls -la /tmp" in dlg.input_view.toPlainText()
    assert not dlg.reveal_box.isVisible() and not dlg.secret
    assert [dlg.scope_box.itemText(i) for i in range(dlg.scope_box.count())][-1] == "Always (create a rule)"
