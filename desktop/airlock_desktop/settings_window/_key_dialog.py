"""Add or rotate a key: a name (add only) and a value typed or pasted into a hidden field."""

from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget)

from airlock.keystore import InvalidName, check_name

__all__ = ["KeyDialog"]


class KeyDialog(QDialog):
    def __init__(self, name: str | None = None, existing: set[str] | frozenset[str] = frozenset(),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rotating = name is not None
        self.existing = set(existing)
        self.setWindowTitle(f"Rotate {name}" if self.rotating else "Add key")
        form = QFormLayout(self)
        self.name = QLineEdit(name or "")
        self.name.setPlaceholderText("e.g. OPENAI_API_KEY")
        self.name.setReadOnly(self.rotating)
        self.value = QLineEdit()
        self.value.setEchoMode(QLineEdit.EchoMode.Password)
        self.value.setPlaceholderText("paste the key here")
        self.reveal = QCheckBox("Show")
        self.reveal.toggled.connect(lambda on: self.value.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        form.addRow("Name:", self.name)
        form.addRow("New value:" if self.rotating else "Value:", self.value)
        form.addRow("", self.reveal)
        if self.rotating:
            note = QLabel("The current value is kept (dated) so you can roll back.")
            note.setWordWrap(True)
            form.addRow(note)
        self.error = QLabel("")
        self.error.setStyleSheet("color:#c8352e")
        self.error.setWordWrap(True)
        form.addRow(self.error)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self._check)
        bb.rejected.connect(self.reject)
        form.addRow(bb)
        self.setMinimumWidth(440)
        (self.value if self.rotating else self.name).setFocus()

    def _check(self) -> None:
        err = self.problem()
        if err:
            self.error.setText(err)
            return
        self.accept()

    def problem(self) -> str:
        name = self.name.text().strip()
        try:
            check_name(name)
        except InvalidName as exc:
            return str(exc)
        if not self.rotating and name in self.existing:
            return f"{name} exists already: select it and use Rotate"
        if not self.value.text():
            return "the value is empty"
        if self.value.text() != self.value.text().strip():
            return "the value starts or ends with spaces (a paste accident?)"
        return ""

    def result_pair(self) -> tuple[str, str]:
        return self.name.text().strip(), self.value.text()
