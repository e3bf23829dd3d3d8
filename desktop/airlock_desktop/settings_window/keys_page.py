"""Keys: the key store as a table (values masked), with add, rotate, roll back, copy and delete.

A view over ``airlock.keystore.KeyStore``: listing reads metadata only (no unlock, no keyring
prompt); values are read only to copy one, and go to the clipboard for 30 s at most. The
backend in use is always shown; keys older than 90 days are flagged.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QLineEdit,
                               QMessageBox, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from airlock.keystore import STALE_DAYS, KeyInfo, KeyStore, KeyStoreError, open_store

from ._clipboard import CLEAR_AFTER_MS, SecretClipboard
from ._key_dialog import KeyDialog

__all__ = ["KeysPage", "MASK", "HEADERS", "describe_backend"]

MASK = "••••••••••••"  # fixed length: the mask must not reveal the value's length either
HEADERS = ["Name", "Value", "Age", "Last rotated", "Last used", "Kept versions"]
_WARN = QColor("#b35c00")


def _when(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _age(days: float) -> str:
    if days < 1:
        return "today"
    return f"{int(days)} day" + ("" if int(days) == 1 else "s")


def describe_backend(name: str) -> str:
    """'keyring:SecretService.Keyring' -> human words; says when the fallback is in use and why it matters."""
    if name.startswith("keyring:"):
        return f"OS keyring ({name.removeprefix('keyring:')}): values never touch disk in plain text."
    if name.startswith("encrypted-file:"):
        return (f"Encrypted file {name.removeprefix('encrypted-file:')} (the OS keyring is not available "
                "here); it opens with your master password.")
    return name


def _ask_password(parent: QWidget | None) -> str | None:
    text, ok = QInputDialog.getText(parent, "Unlock Airlock keys",
                                    "Master password of the encrypted key file\n"
                                    "(the first password you give creates the file):",
                                    QLineEdit.EchoMode.Password)
    return text if ok and text else None


def default_store(parent: QWidget | None = None) -> KeyStore:
    """OS keyring, else the encrypted file; its password from AIRLOCK_MASTER_PASSWORD or a prompt."""
    from airlock.keystore._file_backend import env_password

    return open_store(password=lambda: env_password() or _ask_password(parent))


class KeysPage(QWidget):
    changed = Signal()

    def __init__(self, store_factory: Callable[[], KeyStore] | None = None,
                 clear_after_ms: int = CLEAR_AFTER_MS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._factory = store_factory or (lambda: default_store(self))
        self.store: KeyStore | None = None
        self.clipboard = SecretClipboard(clear_after_ms, self)
        self.clipboard.cleared.connect(self._on_cleared)
        self.infos: list[KeyInfo] = []

        lay = QVBoxLayout(self)
        self.backend_label = QLabel("")
        self.backend_label.setWordWrap(True)
        self.backend_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.backend_label)
        self.stale_label = QLabel("")
        self.stale_label.setWordWrap(True)
        self.stale_label.setStyleSheet(f"color:{_WARN.name()}")
        self.stale_label.hide()
        lay.addWidget(self.stale_label)

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection)
        self.table.doubleClicked.connect(lambda *_: self.copy_selected())
        lay.addWidget(self.table, 1)

        row = QHBoxLayout()
        self.add_btn = QPushButton("Add…")
        self.rotate_btn = QPushButton("Rotate…")
        self.rollback_btn = QPushButton("Roll back")
        self.copy_btn = QPushButton("Copy value")
        self.delete_btn = QPushButton("Delete…")
        self.refresh_btn = QPushButton("Refresh")
        self.add_btn.clicked.connect(self._add_clicked)
        self.rotate_btn.clicked.connect(self._rotate_clicked)
        self.rollback_btn.clicked.connect(self._rollback_clicked)
        self.copy_btn.clicked.connect(self.copy_selected)
        self.delete_btn.clicked.connect(self._delete_clicked)
        self.refresh_btn.clicked.connect(self.refresh)
        self.copy_btn.setToolTip(f"Copies the value; the clipboard is cleared after {clear_after_ms // 1000} s")
        for b in (self.add_btn, self.rotate_btn, self.rollback_btn, self.copy_btn, self.delete_btn):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.refresh_btn)
        lay.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.message)
        self.refresh()

    # ------------------------------------------------------------------ helpers
    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color:#c8352e" if error else "")
        self.message.setText(text)

    def _open(self) -> KeyStore | None:
        if self.store is None:
            try:
                self.store = self._factory()
            except KeyStoreError as exc:
                self.backend_label.setText(f"No key store available: {exc}")
                self._say(str(exc), error=True)
                return None
        return self.store

    def _run(self, what: str, fn: Callable[[], Any]) -> Any:
        """Do one store operation; errors (wrong password, keyring locked, ...) are shown, never raised."""
        try:
            return fn()
        except KeyStoreError as exc:
            self._say(f"{what} failed: {exc}", error=True)
        except OSError as exc:
            self._say(f"{what} failed: {exc.strerror or exc}", error=True)
        return None

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).text()

    def select(self, name: str) -> bool:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == name:
                self.table.selectRow(r)
                return True
        return False

    def _selection(self) -> None:
        name = self.selected_name()
        info = next((i for i in self.infos if i.name == name), None)
        for b in (self.rotate_btn, self.copy_btn, self.delete_btn):
            b.setEnabled(info is not None)
        self.rollback_btn.setEnabled(info is not None and bool(info.previous))

    # ------------------------------------------------------------------ view
    def refresh(self) -> None:
        store = self._open()
        self.add_btn.setEnabled(store is not None)
        if store is None:
            self.infos = []
            self.table.setRowCount(0)
            self._selection()
            return
        self.backend_label.setText("Backend: " + describe_backend(store.backend_name))
        keep = self.selected_name()
        infos = self._run("Listing keys", store.list)
        self.infos = infos if infos is not None else []
        now = time.time()
        self.table.setRowCount(len(self.infos))
        for r, info in enumerate(self.infos):
            cells = [info.name, MASK, _age(info.age_days), _when(info.rotated, now), _when(info.last_used, now),
                     str(len(info.previous))]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setToolTip("Hidden. Use Copy value (the clipboard is cleared automatically).")
                self.table.setItem(r, c, item)
            if info.stale:
                age = self.table.item(r, 2)
                age.setText(f"⚠ {_age(info.age_days)}")
                age.setForeground(QBrush(_WARN))
                age.setToolTip(f"Older than {STALE_DAYS} days: rotate it (create a new key at the vendor, then "
                               "Rotate here)")
        stale = [i.name for i in self.infos if i.stale]
        self.stale_label.setVisible(bool(stale))
        if stale:
            self.stale_label.setText(f"⚠ {len(stale)} key(s) older than {STALE_DAYS} days: {', '.join(stale)}. "
                                     "Rotate them.")
        if keep:
            self.select(keep)
        self._selection()

    # ------------------------------------------------------------------ operations (also used by tests)
    def add_key(self, name: str, value: str) -> bool:
        store = self._open()
        if store is None or self._run(f"Adding {name}", lambda: store.set(name, value)) is None:
            return False
        self.refresh()
        self.select(name)
        self._say(f"Added {name}.")
        self.changed.emit()
        return True

    def rotate_key(self, name: str, value: str) -> bool:
        store = self._open()
        if store is None or self._run(f"Rotating {name}", lambda: store.rotate(name, value)) is None:
            return False
        self.refresh()
        self._say(f"Rotated {name}; the previous value is kept for roll back.")
        self.changed.emit()
        return True

    def rollback_key(self, name: str) -> bool:
        store = self._open()
        if store is None or self._run(f"Rolling back {name}", lambda: store.rollback(name)) is None:
            return False
        self.refresh()
        self._say(f"{name} is back to its previous value.")
        self.changed.emit()
        return True

    def delete_key(self, name: str) -> bool:
        store = self._open()
        if store is None or self._run(f"Deleting {name}", lambda: (store.delete(name), True)[1]) is None:
            return False
        self.refresh()
        self._say(f"Deleted {name} and its kept versions.")
        self.changed.emit()
        return True

    def copy_selected(self) -> bool:
        name = self.selected_name()
        store = self._open()
        if name is None or store is None:
            return False
        value = self._run(f"Reading {name}", lambda: store.get(name))
        if value is None:
            return False
        self.clipboard.copy(value)
        del value
        self.refresh()  # "last used" moved
        secs = self.clipboard.clear_after_ms / 1000
        self._say(f"Copied {name}. The clipboard will be cleared in {secs:g} s.")
        return True

    def _on_cleared(self, ours: bool) -> None:
        self._say("Clipboard cleared." if ours else "The clipboard had changed since; left as it is.")

    # ------------------------------------------------------------------ buttons
    def _add_clicked(self) -> None:
        dlg = KeyDialog(existing={i.name for i in self.infos}, parent=self)
        if dlg.exec():
            self.add_key(*dlg.result_pair())

    def _rotate_clicked(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        dlg = KeyDialog(name=name, parent=self)
        if dlg.exec():
            self.rotate_key(*dlg.result_pair())

    def _rollback_clicked(self) -> None:
        name = self.selected_name()
        if name is not None and self.confirm(f"Roll back {name}?",
                                             f"Make the previous value of {name} current again? "
                                             "The current one is kept, so this can be undone.", "Roll back"):
            self.rollback_key(name)

    def _delete_clicked(self) -> None:
        name = self.selected_name()
        if name is not None and self.confirm(f"Delete {name}?",
                                             f"Delete {name} and every kept older value? Agents that ask for "
                                             "it will be refused. This cannot be undone.", "Delete"):
            self.delete_key(name)

    def confirm(self, title: str, text: str, yes_text: str = "Yes") -> bool:
        """A warning box whose safe answer (Cancel) is the default."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.button(QMessageBox.StandardButton.Yes).setText(yes_text)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("airlockConfirm")
        return box.exec() == QMessageBox.StandardButton.Yes
