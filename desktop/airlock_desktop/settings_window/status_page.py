"""Status: what is in force and where (socket, server, files, protection), read-only."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

__all__ = ["StatusPage"]


class StatusPage(QWidget):
    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        lay = QVBoxLayout(self)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        lay.addLayout(self.form)
        lay.addStretch(1)
        btn = QPushButton("Refresh")
        btn.clicked.connect(self.refresh)
        lay.addWidget(btn, 0, Qt.AlignmentFlag.AlignRight)
        self.refresh()

    def refresh(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        for key, value in self.app.status().items():
            label = QLabel(("yes" if value else "no") if isinstance(value, bool) else str(value))
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(f"{key[:1].upper()}{key[1:]}:", label)

    def values(self) -> dict[str, str]:
        """Label -> shown text (for tests and the screenshot check)."""
        out = {}
        for row in range(self.form.rowCount()):
            lab = self.form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            val = self.form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if lab is not None and val is not None:
                out[lab.widget().text()] = val.widget().text()
        return out
