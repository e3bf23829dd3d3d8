"""Desktop notifications: freedesktop D-Bus via jeepney, Qt's tray balloon as fallback; floods coalesced.

jeepney rather than QtDBus because ``replaces_id`` must go out as an unsigned int (dunst insists).
Coalescing: the first notification of a category is shown at once; more of the same category
within ``burst`` seconds are counted and summarised in one notification when the burst ends.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from PySide6.QtCore import QObject, QTimer

__all__ = ["Notifier", "send_dbus"]

log = logging.getLogger("airlock.desktop.notify")


def send_dbus(summary: str, body: str, urgency: int = 1, app_name: str = "Airlock",
              icon: str = "security-high") -> int:
    """One freedesktop notification; returns its id. Raises when there is no session bus/daemon."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    addr = DBusAddress("/org/freedesktop/Notifications", bus_name="org.freedesktop.Notifications",
                       interface="org.freedesktop.Notifications")
    msg = new_method_call(addr, "Notify", "susssasa{sv}i",
                          (app_name, 0, icon, summary, body, [], {"urgency": ("y", urgency)}, 8000))
    with open_dbus_connection(bus="SESSION") as conn:
        reply = conn.send_and_get_reply(msg, timeout=3)
    return int(reply.body[0])


class Notifier(QObject):
    def __init__(self, fallback: Callable[[str, str], None] | None = None, burst: float = 5.0,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fallback = fallback
        self.burst = burst
        self.enabled = True
        self.muted: set[str] = set()  # categories switched off in Settings
        self.sent: list[tuple[str, str]] = []      # what went out (for the status page and tests)
        self._open: dict[str, tuple[float, int, str]] = {}  # category -> (burst start, suppressed, last body)
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._flush)

    def notify(self, category: str, summary: str, body: str = "", urgent: bool = False) -> None:
        if not self.enabled or category in self.muted:
            return
        now = time.monotonic()
        cur = self._open.get(category)
        if cur is not None and now - cur[0] < self.burst:
            self._open[category] = (cur[0], cur[1] + 1, summary)
            return
        self._open[category] = (now, 0, summary)
        self._timer.start()
        self._send(summary, body, urgent)

    def _flush(self) -> None:
        now = time.monotonic()
        for cat, (start, extra, summary) in list(self._open.items()):
            if now - start >= self.burst:
                del self._open[cat]
                if extra:
                    self._send(f"{summary} (+{extra} more)", f"{extra} more in the last {int(self.burst)} s; "
                               "see the audit log", False)
        if not self._open:
            self._timer.stop()

    def _send(self, summary: str, body: str, urgent: bool) -> None:
        self.sent.append((summary, body))
        try:
            send_dbus(summary, body, 2 if urgent else 1)
            return
        except Exception as exc:  # no bus / no daemon: fall back to the tray balloon
            log.info("D-Bus notification failed (%s); using the tray balloon", exc)
        if self.fallback is not None:
            try:
                self.fallback(summary, body)
            except Exception:
                log.exception("fallback notification failed")
