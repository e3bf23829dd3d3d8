"""The tray application: wires the core (engine, socket server, audit log, policy) to the views.

The socket server runs on its own threads (``Server.start`` returns at once); approvals reach
the GUI thread through ``QtApprover``'s queued signal. Nothing here decides about a call: the
engine does; the app shows, forwards the user's answers and keeps the tray icon honest.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

from airlock.audit import AuditLog
from airlock.audit import default_path as default_audit_path
from airlock.engine import Engine
from airlock.hooks import HookRegistry
from airlock.policy import PolicyStore
from airlock.settings import Settings, load_settings, settings_path

from ._pause import Pause
from ._rule_draft import RuleDraft
from .approval_dialog import ApprovalQueue
from .notify import Notifier
from .qt_approver import ApprovalBridge, QtApprover
from .tray import TrayController

__all__ = ["AirlockApp", "main", "build_engine"]

log = logging.getLogger("airlock.desktop")

ALERT_SECONDS = 30.0


def build_engine(audit_path: Path, policy_path: Path | None) -> Engine:
    """The same layers ``airlock serve`` uses: injection scanner, audit log, policy file, monitor."""
    from airlock import _dirs
    from airlock.injection import Scanner
    from airlock.monitor import Monitor

    return Engine(hooks=HookRegistry(), scanner=Scanner(), audit=AuditLog(audit_path),
                  policy=PolicyStore(policy_path), monitor=Monitor(state_path=_dirs.state_dir() / "monitor.json"))


class _ServerState(QObject):
    changed = Signal(bool, str)  # up, detail


class AirlockApp(QObject):
    """Owns the long-lived objects. ``server=None`` makes it a viewer of an already running server."""

    def __init__(self, *, socket_path: Path | None = None, audit_path: Path | None = None,
                 policy_path: Path | None = None, timeout: float | None = None, force_window: bool = False,
                 host_server: bool = True, arm_delay_ms: int = 1000, settings: Settings | None = None) -> None:
        super().__init__()
        from airlock.server import Server, default_socket_path

        loaded = load_settings() if settings is None else None
        self.settings: Settings = settings if settings is not None else loaded.settings  # type: ignore[union-attr]
        self.settings_errors: list[str] = loaded.errors if loaded is not None else []
        timeout = self.settings.approval_timeout if timeout is None else timeout
        self.audit_path = Path(audit_path) if audit_path else (self.settings.audit_file() or default_audit_path())
        self.engine = build_engine(self.audit_path, policy_path)
        self.policy: PolicyStore = self.engine.policy
        self.pause = Pause(self.engine.hooks)
        self.bridge = ApprovalBridge(self)
        self.approver = QtApprover(self.bridge, timeout=timeout)
        self.queue = ApprovalQueue(timeout=timeout, rule_sink=self.save_rule, arm_delay_ms=arm_delay_ms,
                                   parent=self)
        self.bridge.requested.connect(self.queue.submit)
        self.tray = TrayController(force_window=force_window, parent=self)
        self.notifier = Notifier(fallback=self.tray.show_message, parent=self)
        self.notifier.muted = self.settings.muted_categories()
        self.socket_path = Path(socket_path) if socket_path else default_socket_path()
        self.server: Any = Server(self.engine, self.socket_path, approver=self.approver) if host_server else None
        self.server_error = ""
        self._server_up = False
        self._alert_until = 0.0
        self.alerts: list[dict] = []  # unacknowledged security_alert records, newest first
        self._windows: dict[str, Any] = {}
        self._state = _ServerState()
        self._state.changed.connect(self._server_changed)

        self.queue.count_changed.connect(self._refresh)
        self.queue.count_changed.connect(self.tray.set_pending)
        self.queue.timed_out.connect(self._on_timeout)
        self.queue.rule_failed.connect(lambda msg: self.notifier.notify("rule", "Airlock: rule not saved", msg))
        t = self.tray
        t.open_audit.connect(lambda: self.show_window("audit"))
        t.open_rules.connect(lambda: self.show_window("rules"))
        t.open_settings.connect(lambda: self.show_window("settings"))
        t.open_approvals.connect(self._raise_approval)
        t.pause_requested.connect(self.pause_for)
        t.resume_requested.connect(self.resume)
        t.quit_requested.connect(self.quit)
        t.acknowledge_alerts.connect(self.acknowledge_alerts)
        t.pause_agent.connect(self.pause_agent)
        t.resume_agent.connect(self.resume_agent)

        self._follower: Any = None
        self._poll = QTimer(self)
        self._poll.setInterval(2000)
        self._poll.timeout.connect(self._check_server)
        self._poll.timeout.connect(self._refresh)

    # --------------------------------------------------------------- lifecycle
    def start(self) -> None:
        from .audit_window.state import AuditFollower

        if self.server is not None:
            self._start_server()  # Server.start binds and returns; its threads do the serving
        else:
            self._check_server()
        self._follower = AuditFollower(self.audit_path, parent=self)
        self._follower.records_added.connect(self._on_records)
        self._follower.start(skip_existing=True)
        self._poll.start()

    def _start_server(self) -> None:
        from airlock.server import AlreadyRunning

        try:
            self.server.start()
            self._state.changed.emit(True, "")
        except AlreadyRunning:
            raise
        except Exception as exc:  # shown in the tray; agents are denied while no server runs
            log.exception("server failed to start")
            self._state.changed.emit(False, f"{type(exc).__name__}: {exc}")

    def _check_server(self) -> None:
        if self.server is not None:
            up = bool(self.server.running)
            detail = self.server_error if not up else ""
        else:
            from airlock.server import probe

            up = probe(self.socket_path, timeout=0.3) is not None
            detail = "" if up else f"nothing answers at {self.socket_path}"
        if up != self._server_up:
            self._server_changed(up, detail)

    def _server_changed(self, up: bool, detail: str) -> None:
        was = self._server_up
        self._server_up, self.server_error = up, detail
        if not up and (was or detail):
            self.notifier.notify("server", "Airlock: the server is not running",
                                 (detail or "agents are denied until it is back"), urgent=True)
        self._refresh()

    def quit(self) -> None:
        self.queue.deny_all()
        self.bridge.alive = False
        if self._follower is not None:
            self._follower.stop()
        if self.server is not None:
            self.server.stop(timeout=2.0)
            if self.settings.when_closed == "headless":  # hand agents over to `airlock serve` (systemd --user)
                from airlock.settings import start_headless_server

                ok, detail = start_headless_server()
                if not ok:
                    log.warning("could not start the headless server: %s", detail)
        self.pause.stop()
        if getattr(self.engine, "monitor", None) is not None:
            self.engine.monitor.save()  # baselines survive restarts
        self.tray.hide()
        QApplication.quit()

    # ------------------------------------------------------------------- state
    def _refresh(self, *_: Any) -> None:
        n = self.queue.pending_count
        if not self._server_up:
            self.tray.set_state("server-down", self.server_error)
        elif n:
            self.tray.set_state("pending", f"{n} waiting for you")
        elif self.pause.active:
            self.tray.set_state("paused", "until " + time.strftime("%H:%M", time.localtime(self.pause.until)))
        elif time.monotonic() < self._alert_until:
            self.tray.set_state("alert")
        else:
            self.tray.set_state("idle")
        if not self.pause.active and self.pause.until:
            self.pause.stop()
            self.tray.set_paused(False)

    def pause_for(self, seconds: int) -> None:
        self.pause.start(seconds)
        self.tray.set_paused(True, time.strftime("%H:%M", time.localtime(self.pause.until)))
        self._refresh()

    def resume(self) -> None:
        self.pause.stop()
        self.tray.set_paused(False)
        self._refresh()

    def _on_timeout(self, pending: Any) -> None:
        ev = pending.request.event
        self.notifier.notify("timeout", "Airlock: approval timed out",
                             f"{ev.agent.name}: {getattr(ev, 'tool_name', 'prompt')} was denied (nobody answered)")

    # ------------------------------------------------------------------ alerts
    def _paused_agents(self) -> set[str]:
        monitor = getattr(self.engine, "monitor", None)
        return set(monitor.paused_agents) if monitor is not None else set()

    def _show_alerts(self) -> None:
        self.tray.set_alerts(self.alerts, self._paused_agents())

    def acknowledge_alerts(self) -> None:
        self.alerts.clear()
        if getattr(self.engine, "monitor", None) is not None:
            self.engine.monitor.acknowledge()
        self._alert_until = 0.0
        self._show_alerts()
        self._refresh()

    def pause_agent(self, agent: str) -> None:
        if getattr(self.engine, "monitor", None) is not None:
            self.engine.monitor.pause(agent, f"paused from the tray after an alert: every call of {agent} is asked")
        self._show_alerts()

    def resume_agent(self, agent: str) -> None:
        if getattr(self.engine, "monitor", None) is not None:
            self.engine.monitor.resume(agent)
        self._show_alerts()

    def _on_records(self, records: list[dict]) -> None:
        for r in records:
            if r.get("event") == "security_alert":
                self.alerts.insert(0, r)
                del self.alerts[50:]
                self._alert_until = time.monotonic() + ALERT_SECONDS
                self.notifier.notify("alert", f"Airlock alert ({str(r.get('threat_level', '')).lower()})",
                                     f"{r.get('agent_name')}: {r.get('reason', '')}",
                                     urgent=r.get("threat_level") in ("HIGH", "CRITICAL"))
                self._show_alerts()
            if r.get("decision") == "blocked" and r.get("decided_by") == "injection":
                self._alert_until = time.monotonic() + ALERT_SECONDS
                self.notifier.notify("injection", "Airlock blocked a prompt injection",
                                     f"{r.get('agent_name')}: {r.get('tool_name') or 'prompt'}: {r.get('reason', '')}",
                                     urgent=True)
        self._refresh()

    def _raise_approval(self) -> None:
        if self.queue.dialog is not None:
            self.queue.dialog.show()
            self.queue.dialog.raise_()

    # ---------------------------------------------------------------- settings
    def set_approval_timeout(self, seconds: float) -> None:
        """New requests get the new countdown; dialogs already open keep theirs."""
        self.approver.timeout = float(seconds)
        self.queue.timeout = float(seconds)

    def set_muted_notifications(self, categories: set[str]) -> None:
        self.notifier.muted = set(categories)

    def apply_settings(self, settings: Settings) -> None:
        """Called by the Settings window after saving; the audit path applies at the next start."""
        self.settings = settings
        self.set_approval_timeout(settings.approval_timeout)
        self.set_muted_notifications(settings.muted_categories())

    # ------------------------------------------------------------------- rules
    def save_rule(self, draft: RuleDraft) -> Any:
        return self.policy.add_rule(draft.tool, draft.action, args=draft.args, agent=draft.agent,
                                    expires_at=draft.expires, comment=draft.comment)

    # ----------------------------------------------------------------- windows
    def show_window(self, name: str) -> Any:
        w = self._windows.get(name)
        if w is None:
            if name == "audit":
                from .audit_window import AuditWindow

                w = AuditWindow(self.audit_path)
            elif name == "rules":
                from .rules_window import RulesWindow

                w = RulesWindow(self.policy)
            elif name == "settings":
                from .settings_window import SettingsWindow

                w = SettingsWindow(self)
            else:
                raise ValueError(name)
            self._windows[name] = w
        w.show()
        w.raise_()
        w.activateWindow()
        return w

    def status(self) -> dict[str, Any]:
        """What the settings/status page shows."""
        return {
            "socket": str(self.socket_path),
            "server": "running" if self._server_up else f"down ({self.server_error or 'not answering'})",
            "hosting server": self.server is not None,
            "audit log": str(self.audit_path),
            "policy file": str(self.policy.path),
            "policy error": str(self.policy.error) if self.policy.error else "none",
            "approval timeout": f"{self.approver.timeout:g} s (then denied, recorded as timeout)",
            "protection": ("paused until " + time.strftime("%H:%M", time.localtime(self.pause.until))
                           if self.pause.active else "on"),
            "system tray": "yes" if self.tray.has_tray else "no (small window instead)",
            "notifications": "freedesktop D-Bus (tray balloon as fallback)"
                             + (f"; off: {', '.join(sorted(self.notifier.muted))}" if self.notifier.muted else ""),
            "settings file": str(settings_path()) + (f" (problems: {'; '.join(self.settings_errors)})"
                                                     if self.settings_errors else ""),
        }


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="airlock tray", description="The Airlock tray app.")
    add_arguments(p)
    return p.parse_args(argv)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", type=Path, default=None, help="socket path (default: $XDG_RUNTIME_DIR/airlock/)")
    p.add_argument("--audit", type=Path, default=None, help="audit log path")
    p.add_argument("--policy", type=Path, default=None, help="policy file path")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds before an unanswered approval is denied (default: $AIRLOCK_APPROVAL_TIMEOUT, "
                        "else Settings, else 60)")
    p.add_argument("--window", action="store_true", help="use a small window instead of the system tray")
    p.add_argument("--no-server", action="store_true",
                   help="do not host the socket server (another `airlock serve` runs)")


def run(args: argparse.Namespace) -> int:
    from airlock.server import AlreadyRunning

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Airlock")
    app.setQuitOnLastWindowClosed(False)
    loaded = load_settings()
    for err in loaded.errors:
        print(f"airlock tray: settings: {err}", file=sys.stderr)
    timeout = args.timeout if args.timeout is not None else loaded.settings.approval_timeout
    if args.timeout is None and os.environ.get("AIRLOCK_APPROVAL_TIMEOUT"):
        try:
            timeout = float(os.environ["AIRLOCK_APPROVAL_TIMEOUT"])
        except ValueError:
            print("airlock tray: AIRLOCK_APPROVAL_TIMEOUT is not a number; using the settings", file=sys.stderr)
    if loaded.settings.when_closed == "headless" and not args.no_server:
        from airlock.settings import stop_headless_server

        stop_headless_server()  # the tray takes the socket back from the headless server it handed over to
    airlock = AirlockApp(socket_path=args.socket, audit_path=args.audit, policy_path=args.policy,
                         timeout=timeout, force_window=args.window, host_server=not args.no_server,
                         settings=loaded.settings)
    airlock.settings_errors = loaded.errors
    try:
        airlock.start()
    except AlreadyRunning as exc:
        print(f"airlock tray: {exc}; use --no-server to only watch it", file=sys.stderr)
        airlock.tray.hide()
        return 3
    if not airlock.tray.has_tray:
        print("airlock tray: no system tray on this desktop; showing a small window instead", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: airlock.quit())
    signal.signal(signal.SIGINT, lambda *_: airlock.quit())
    keepalive = QTimer()  # lets Python run its signal handlers while Qt's loop runs
    keepalive.start(300)
    keepalive.timeout.connect(lambda: None)
    app._airlock = airlock  # type: ignore[attr-defined]
    rc = app.exec()
    if airlock.server is not None and airlock.server.running:
        airlock.server.stop(timeout=2.0)
    return int(rc)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("AIRLOCK_LOG", "WARNING").upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parse(argv)
    try:
        return run(args)
    except Exception as exc:  # never exit silently
        log.exception("airlock tray failed")
        print(f"airlock tray: {type(exc).__name__}: {exc}", file=sys.stderr)
        try:
            QMessageBox.critical(None, "Airlock", f"Airlock could not start:\n{exc}")
        except Exception:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
