"""Settings, for now a read-only status page.

Editable settings (timeout, notification preferences, key management) belong to issue 5's UI;
until it exists this page shows what is in force and where, so the user can check it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

__all__ = ["SettingsWindow"]


class SettingsWindow(QWidget):
    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.setObjectName("airlockSettingsWindow")
        self.setWindowTitle("Airlock settings (status)")
        lay = QVBoxLayout(self)
        note = QLabel("Read-only for now: these are the settings in force. Change the approval timeout with "
                      "<code>airlock tray --timeout N</code>; rules live in the Rules window.")
        note.setWordWrap(True)
        lay.addWidget(note)
        self.form = QFormLayout()
        lay.addLayout(self.form)
        btn = QPushButton("Refresh")
        btn.clicked.connect(self.refresh)
        lay.addWidget(btn, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(620, 0)
        self.refresh()

    def refresh(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        for key, value in self.app.status().items():
            label = QLabel(str(value))
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(f"{key[:1].upper()}{key[1:]}:", label)
