"""General settings: approval timeout, what a timeout means, closing the app, notifications, audit file.

Edits are collected and written with Apply (atomic TOML under the XDG config dir); the running
app picks up the timeout and notification choices at once through ``apply_settings``. The
choices that could weaken protection are not offered: nobody answering always means "deny".
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton, QSpinBox, QVBoxLayout,
                               QWidget)

from airlock.settings import (NO_ANSWER_CHOICES, TIMEOUT_MAX, TIMEOUT_MIN, WHEN_CLOSED_CHOICES, Notifications,
                              Settings, SettingsError, headless_unit_status, load_settings, save_settings)

__all__ = ["GeneralPage"]

_EXPLAIN_NO_ANSWER = ("An unanswered request is always denied: it is recorded as <i>timeout</i> in the audit log "
                      "and never saved as a rule, whatever scope was selected.")
_EXPLAIN_CLOSED = ("Agents fail secure: while no Airlock server runs, every call that needs a decision is denied. "
                   "The headless server decides by policy only (no popups), so anything that needs approval "
                   "is denied there too.")


def _hint(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setTextFormat(Qt.TextFormat.RichText)
    lab.setStyleSheet("color: palette(placeholder-text);")
    return lab


class GeneralPage(QWidget):
    saved = Signal(object)  # Settings

    def __init__(self, app: Any = None, path: Path | None = None,
                 unit_status: Callable[[], tuple[bool, str]] = headless_unit_status,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.path = path
        self._unit_status = unit_status
        loaded = load_settings(path)
        self.settings_path = loaded.path
        self.current: Settings = loaded.settings
        lay = QVBoxLayout(self)

        self.load_error = QLabel("")
        self.load_error.setWordWrap(True)
        self.load_error.setStyleSheet("color:#c8352e")
        self.load_error.setVisible(bool(loaded.errors))
        self.load_error.setText("The settings file has problems; defaults are used for:\n" + "\n".join(loaded.errors))
        lay.addWidget(self.load_error)

        # approvals
        box = QGroupBox("Approvals")
        form = QFormLayout(box)
        self.timeout = QSpinBox()
        self.timeout.setRange(int(TIMEOUT_MIN), int(TIMEOUT_MAX))
        self.timeout.setSuffix(" s")
        self.timeout.setToolTip("How long an approval popup waits for you. The countdown pauses while the "
                                "pointer is over the popup.")
        form.addRow("Approval timeout:", self.timeout)
        self.no_answer = QComboBox()
        for key, text in NO_ANSWER_CHOICES.items():
            self.no_answer.addItem(text, key)
        self.no_answer.setEnabled(len(NO_ANSWER_CHOICES) > 1)
        form.addRow("When nobody answers:", self.no_answer)
        form.addRow(_hint(_EXPLAIN_NO_ANSWER))
        lay.addWidget(box)

        # closing the app
        box = QGroupBox("When the Airlock app is closed")
        v = QVBoxLayout(box)
        self.closed_group = QButtonGroup(self)
        self.closed_buttons: dict[str, QRadioButton] = {}
        for key, text in WHEN_CLOSED_CHOICES.items():
            rb = QRadioButton(text)
            self.closed_group.addButton(rb)
            self.closed_buttons[key] = rb
            v.addWidget(rb)
        v.addWidget(_hint(_EXPLAIN_CLOSED))
        self.unit_label = _hint("")
        v.addWidget(self.unit_label)
        lay.addWidget(box)

        # notifications
        box = QGroupBox("Notifications")
        grid = QHBoxLayout(box)
        self.notify_boxes: dict[str, QCheckBox] = {}
        for f in fields(Notifications):
            cb = QCheckBox(Notifications.LABELS[f.name])
            self.notify_boxes[f.name] = cb
            grid.addWidget(cb)
        grid.addStretch(1)
        lay.addWidget(box)

        # audit log
        box = QGroupBox("Audit log")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.audit = QLineEdit()
        from airlock.audit import default_path

        self.audit.setPlaceholderText(f"default: {default_path()}")
        self.audit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.audit, 1)
        row.addWidget(browse)
        v.addLayout(row)
        v.addWidget(_hint("A new location applies the next time Airlock starts; the old log stays where it is."))
        lay.addWidget(box)

        lay.addStretch(1)
        bottom = QHBoxLayout()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        bottom.addWidget(self.message, 1)
        self.revert_btn = QPushButton("Revert")
        self.revert_btn.clicked.connect(self.revert)
        self.apply_btn = QPushButton("Apply")
        self.apply_btn.setDefault(True)
        self.apply_btn.clicked.connect(self.apply)
        bottom.addWidget(self.revert_btn)
        bottom.addWidget(self.apply_btn)
        lay.addLayout(bottom)

        self._show(self.current)
        for w in (self.timeout,):
            w.valueChanged.connect(self._dirty)
        self.no_answer.currentIndexChanged.connect(self._dirty)
        self.closed_group.buttonToggled.connect(self._dirty)
        for cb in self.notify_boxes.values():
            cb.toggled.connect(self._dirty)
        self.audit.textChanged.connect(self._dirty)
        self._dirty()

    # ------------------------------------------------------------------ view <-> settings
    def _show(self, s: Settings) -> None:
        self.timeout.setValue(int(round(s.approval_timeout)))
        i = self.no_answer.findData(s.on_no_answer)
        self.no_answer.setCurrentIndex(max(i, 0))
        self.closed_buttons[s.when_closed].setChecked(True)
        for name, cb in self.notify_boxes.items():
            cb.setChecked(getattr(s.notifications, name))
        self.audit.setText(s.audit_path)
        self.refresh_unit()

    def refresh_unit(self) -> None:
        try:
            installed, detail = self._unit_status()
        except Exception as exc:  # noqa: BLE001 - a status line must not break the page
            installed, detail = False, f"unknown ({type(exc).__name__})"
        self.closed_buttons["headless"].setToolTip(detail)
        self.unit_label.setText(("Headless server: " if installed else "Headless server not available: ") + detail)

    def edited(self) -> Settings:
        """The settings as shown (not yet validated or saved)."""
        closed = next((k for k, b in self.closed_buttons.items() if b.isChecked()), "fail-secure")
        notes = Notifications(**{n: cb.isChecked() for n, cb in self.notify_boxes.items()})
        return Settings(approval_timeout=float(self.timeout.value()), on_no_answer=self.no_answer.currentData(),
                        when_closed=closed, audit_path=self.audit.text().strip(), notifications=notes)

    def _dirty(self, *_: Any) -> None:
        changed = self.edited() != self.current
        self.apply_btn.setEnabled(changed)
        self.revert_btn.setEnabled(changed)
        if changed:
            self.message.setStyleSheet("")
            self.message.setText("Unsaved changes")
        elif self.message.text() == "Unsaved changes":
            self.message.setText("")

    # ------------------------------------------------------------------ actions
    def apply(self) -> bool:
        s = self.edited()
        try:
            save_settings(s.validate(), self.path)
        except (SettingsError, OSError) as exc:
            self.message.setStyleSheet("color:#c8352e")
            self.message.setText(f"Not saved: {exc}")
            return False
        restart = s.audit_path != self.current.audit_path
        self.current = s
        if self.app is not None and hasattr(self.app, "apply_settings"):
            self.app.apply_settings(s)
        self.load_error.setVisible(False)
        self._dirty()
        self.message.setStyleSheet("")
        self.message.setText(f"Saved to {self.settings_path}" + ("; the audit location applies at the next start"
                                                                if restart else "; in effect now"))
        self.saved.emit(s)
        return True

    def revert(self) -> None:
        self._show(self.current)
        self._dirty()

    def _browse(self) -> None:
        start = self.audit.text() or self.audit.placeholderText().removeprefix("default: ")
        name, _ = QFileDialog.getSaveFileName(self, "Audit log file", start, "JSON lines (*.jsonl);;All files (*)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if name:
            self.audit.setText(name)
