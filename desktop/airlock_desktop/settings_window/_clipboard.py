"""Copy a secret to the clipboard and take it back after a while.

Only a hash of the value is kept to recognise it later: the clipboard is cleared only if it
still holds what we put there (the user may have copied something else meanwhile). The mime
data carries ``x-kde-passwordManagerHint: secret`` so clipboard managers that honour it
(Klipper, some GNOME extensions) keep it out of their history.
"""

from __future__ import annotations

import hashlib

from PySide6.QtCore import QMimeData, QObject, QTimer, Signal
from PySide6.QtGui import QGuiApplication

__all__ = ["SecretClipboard", "CLEAR_AFTER_MS"]

CLEAR_AFTER_MS = 30_000


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class SecretClipboard(QObject):
    cleared = Signal(bool)  # True: we cleared it; False: something else was there by then

    def __init__(self, clear_after_ms: int = CLEAR_AFTER_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clear_after_ms = int(clear_after_ms)
        self._digest: bytes | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clear_now)

    @property
    def armed(self) -> bool:
        return self._timer.isActive()

    def copy(self, value: str) -> None:
        mime = QMimeData()
        mime.setText(value)
        mime.setData("x-kde-passwordManagerHint", b"secret")
        QGuiApplication.clipboard().setMimeData(mime)
        self._digest = _digest(value)
        self._timer.start(self.clear_after_ms)

    def clear_now(self) -> None:
        self._timer.stop()
        if self._digest is None:
            return
        cb = QGuiApplication.clipboard()
        ours = _digest(cb.text()) == self._digest
        if ours:
            cb.clear()
        self._digest = None
        self.cleared.emit(ours)
