"""The tray icon and its menu (or a small window when the desktop has no system tray).

A view only: it shows the state it is given and emits what the user picked. States:
idle, pending, alert, paused, server-down (one SVG each in ``resources/icons``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMenu, QPushButton, QSystemTrayIcon, QVBoxLayout,
                               QWidget)

__all__ = ["STATES", "icon_path", "TrayController"]

STATES = ("idle", "pending", "alert", "paused", "server-down")
PAUSE_CHOICES = ((15 * 60, "15 minutes"), (60 * 60, "1 hour"), (4 * 3600, "4 hours"))

_DESCRIPTIONS = {
    "idle": "Airlock: protecting",
    "pending": "Airlock: approval needed",
    "alert": "Airlock: something was blocked",
    "paused": "Airlock: paused (every call is asked)",
    "server-down": "Airlock: the server is not running (agents are denied)",
}


def _resources() -> Path:
    here = Path(__file__).resolve()
    for base in (here.parents[2] / "resources", Path("/usr/share/airlock/resources")):
        if (base / "icons").is_dir():
            return base
    return here.parents[2] / "resources"


def icon_path(state: str) -> Path:
    return _resources() / "icons" / f"airlock-{state}.svg"


class TrayController(QObject):
    open_approvals = Signal()
    open_audit = Signal()
    open_rules = Signal()
    open_settings = Signal()
    pause_requested = Signal(int)   # seconds
    resume_requested = Signal()
    quit_requested = Signal()
    acknowledge_alerts = Signal()
    pause_agent = Signal(str)       # agent name: ask all its calls until resumed
    resume_agent = Signal(str)

    def __init__(self, force_window: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = "idle"
        self.icons = {s: QIcon(str(icon_path(s))) for s in STATES}
        self.menu = QMenu()
        self.menu.setObjectName("trayMenu")
        self._build_menu()
        self.tray: QSystemTrayIcon | None = None
        self.window: QWidget | None = None
        self.has_tray = QSystemTrayIcon.isSystemTrayAvailable() and not force_window
        if self.has_tray:
            self.tray = QSystemTrayIcon(self.icons["idle"])
            self.tray.setContextMenu(self.menu)
            self.tray.activated.connect(self._activated)
            self.tray.show()
        else:
            self.window = self._fallback_window()
            self.window.show()
        self.set_state("idle")

    # ------------------------------------------------------------------ menu
    def _build_menu(self) -> None:
        m = self.menu
        self.pending_action = QAction("No pending approvals", m)
        self.pending_action.setEnabled(False)
        self.pending_action.triggered.connect(self.open_approvals)
        m.addAction(self.pending_action)
        self.alerts_menu = QMenu("No alerts", m)
        self.alerts_menu.setObjectName("alertsMenu")
        self.alerts_menu.setEnabled(False)
        m.addMenu(self.alerts_menu)
        m.addSeparator()
        for text, sig in (("Audit log…", self.open_audit), ("Rules…", self.open_rules),
                          ("Settings…", self.open_settings)):
            a = QAction(text, m)
            a.triggered.connect(sig)
            m.addAction(a)
        m.addSeparator()
        self.pause_menu = QMenu("Pause protection (ask everything)", m)
        for seconds, label in PAUSE_CHOICES:
            a = QAction(f"for {label}", self.pause_menu)
            a.triggered.connect(lambda _=False, s=seconds: self.pause_requested.emit(s))
            self.pause_menu.addAction(a)
        m.addMenu(self.pause_menu)
        self.resume_action = QAction("Resume protection", m)
        self.resume_action.triggered.connect(self.resume_requested)
        self.resume_action.setVisible(False)
        m.addAction(self.resume_action)
        m.addSeparator()
        q = QAction("Quit Airlock", m)
        q.triggered.connect(self.quit_requested)
        m.addAction(q)

    def _fallback_window(self) -> QWidget:
        w = QWidget()
        w.setObjectName("airlockFallback")
        w.setWindowTitle("Airlock")
        lay = QVBoxLayout(w)
        note = QLabel("No system tray was found on this desktop, so Airlock runs in this small window.\n"
                      "Closing it does not stop Airlock; use Quit.")
        note.setWordWrap(True)
        lay.addWidget(note)
        self.status_label = QLabel("")
        self.status_label.setObjectName("status")
        lay.addWidget(self.status_label)
        row = QHBoxLayout()
        for text, sig in (("Audit log", self.open_audit), ("Rules", self.open_rules),
                          ("Settings", self.open_settings)):
            b = QPushButton(text)
            b.clicked.connect(sig)
            row.addWidget(b)
        menu_btn = QPushButton("More")
        menu_btn.setMenu(self.menu)
        row.addWidget(menu_btn)
        lay.addLayout(row)
        w.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)
        return w

    # ----------------------------------------------------------------- state
    def set_state(self, state: str, detail: str = "") -> None:
        if state not in STATES:
            raise ValueError(f"unknown tray state {state!r}")
        self.state = state
        text = _DESCRIPTIONS[state] + (f"\n{detail}" if detail else "")
        if self.tray is not None:
            self.tray.setIcon(self.icons[state])
            self.tray.setToolTip(text)
        if self.window is not None:
            self.window.setWindowIcon(self.icons[state])
            self.status_label.setText(text)

    def set_pending(self, n: int) -> None:
        self.pending_action.setText(f"{n} pending approval{'s' if n != 1 else ''}" if n else "No pending approvals")
        self.pending_action.setEnabled(n > 0)

    def set_alerts(self, alerts: list[dict], paused_agents: set[str]) -> None:
        """Unacknowledged ``security_alert`` records, newest first (a view: the app owns the list)."""
        menu = self.alerts_menu
        menu.clear()
        n = len(alerts)
        menu.setTitle(f"{n} alert{'s' if n != 1 else ''}" if n else "No alerts")
        menu.setEnabled(bool(n) or bool(paused_agents))
        for rec in alerts[:10]:
            extra = rec.get("extra") or {}
            text = f"{rec.get('threat_level', '').lower()}: {rec.get('agent_name')}: {rec.get('reason', '')}"
            a = QAction(text if len(text) <= 90 else text[:87] + "…", menu)
            a.setEnabled(False)
            menu.addAction(a)
            agent = str(extra.get("agent") or rec.get("agent_name") or "")
            if agent and agent not in paused_agents:
                p = QAction(f"    Pause agent {agent} (ask all its calls)", menu)
                p.triggered.connect(lambda _=False, g=agent: self.pause_agent.emit(g))
                menu.addAction(p)
        for agent in sorted(paused_agents):
            r = QAction(f"Resume agent {agent}", menu)
            r.triggered.connect(lambda _=False, g=agent: self.resume_agent.emit(g))
            menu.addAction(r)
        if n:
            menu.addSeparator()
            ack = QAction("Acknowledge all", menu)
            ack.triggered.connect(self.acknowledge_alerts)
            menu.addAction(ack)

    def set_paused(self, paused: bool, until_text: str = "") -> None:
        self.resume_action.setVisible(paused)
        self.resume_action.setText(f"Resume protection (paused until {until_text})" if paused else "Resume protection")

    def show_message(self, summary: str, body: str) -> None:
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage(summary, body, self.icons["alert"], 8000)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.open_approvals.emit()

    def hide(self) -> None:
        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self.window.hide()
