"""The rules window: the policy's rules as a table; add and delete go through ``PolicyStore``.

The store writes the file atomically and the engine sees the change on its next call, so an
edit here takes effect immediately. A broken policy file is shown, never silently ignored.
"""

from __future__ import annotations

import json
import time
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QMainWindow, QMessageBox, QPushButton,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

__all__ = ["RulesWindow", "RuleForm"]

HEADERS = ["ID", "Action", "Tool", "Arguments", "Agent", "Expires", "Comment"]


def _expiry(rule: Any, now: float) -> str:
    if rule.expires is None:
        return "never"
    left = rule.expires - now
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rule.expires))
    return f"{when} (expired)" if left <= 0 else f"{when} (in {int(left // 60)} min)"


class RuleForm(QDialog):
    """Add a rule: tool pattern, action, argument patterns (JSON), agent, expiry, comment."""

    def __init__(self, parent: QWidget | None = None, rule: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit rule " + rule.id if rule is not None else "Add rule")
        form = QFormLayout(self)
        self.tool = QLineEdit()
        self.tool.setPlaceholderText("tool name or glob, e.g. read_file or mcp_*")
        self.action = QComboBox()
        self.action.addItems(["ask", "allow", "deny"])
        self.args = QLineEdit("{}")
        self.args.setToolTip('JSON object: argument name -> glob pattern, e.g. {"path": "/tmp/*"}')
        self.agent = QLineEdit()
        self.agent.setPlaceholderText("empty = every agent")
        self.expires = QSpinBox()
        self.expires.setRange(0, 60 * 24 * 365)
        self.expires.setSuffix(" min (0 = never)")
        self.comment = QLineEdit()
        form.addRow("Tool:", self.tool)
        form.addRow("Action:", self.action)
        form.addRow("Arguments:", self.args)
        form.addRow("Agent:", self.agent)
        form.addRow("Expires in:", self.expires)
        form.addRow("Comment:", self.comment)
        self.error = QLabel("")
        self.error.setStyleSheet("color:#c8352e")
        form.addRow(self.error)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self._check)
        bb.rejected.connect(self.reject)
        form.addRow(bb)
        self.resize(480, 0)
        if rule is not None:
            self._fill(rule)

    def _fill(self, rule: Any) -> None:
        import time

        self.tool.setText(rule.tool)
        self.action.setCurrentText("deny" if rule.action.value == "block" else rule.action.value)
        self.args.setText(json.dumps(dict(rule.args)))
        self.agent.setText(rule.agent or "")
        if rule.expires is not None:
            self.expires.setValue(max(1, int((rule.expires - time.time()) // 60)))
        self.comment.setText(rule.comment)

    def values(self) -> dict[str, Any]:
        args = json.loads(self.args.text() or "{}")
        if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
            raise ValueError("arguments must be a JSON object of glob patterns (strings)")
        tool = self.tool.text().strip()
        if not tool:
            raise ValueError("a rule needs a tool")
        return {"tool": tool, "action": self.action.currentText(), "args": args or None,
                "agent": self.agent.text().strip() or None,
                "expires_in": self.expires.value() * 60 if self.expires.value() else None,
                "comment": self.comment.text().strip()}

    def _check(self) -> None:
        try:
            self.values()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class RulesWindow(QMainWindow):
    def __init__(self, store: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setObjectName("airlockRulesWindow")
        self.setWindowTitle(f"Airlock rules: {store.path}")
        self.resize(1160, 460)
        central = QWidget()
        lay = QVBoxLayout(central)
        top = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Filter rules")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        top.addWidget(self.search, 1)
        self.add_btn = QPushButton("Add…")
        self.add_btn.clicked.connect(self.add_dialog)
        self.edit_btn = QPushButton("Edit…")
        self.edit_btn.clicked.connect(self.edit_dialog)
        self.del_btn = QPushButton("Delete")
        self.del_btn.clicked.connect(self.delete_selected)
        reload_btn = QPushButton("Reload")
        reload_btn.clicked.connect(lambda: (self.store.reload(), self.refresh()))
        for b in (self.add_btn, self.edit_btn, self.del_btn, reload_btn):
            top.addWidget(b)
        lay.addLayout(top)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color:#c8352e")
        lay.addWidget(self.error)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("table")
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.doubleClicked.connect(lambda _i: self.edit_dialog())
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for i, w in enumerate([90, 60, 150, 260, 110, 200]):
            self.table.setColumnWidth(i, w)
        lay.addWidget(self.table, 1)
        self.setCentralWidget(central)
        self._watch = QFileSystemWatcher(self)
        self._watch.addPath(str(store.path.parent)) if store.path.parent.exists() else None
        self._watch.directoryChanged.connect(lambda _p: self.refresh())
        self.refresh()

    def refresh(self, *_: Any) -> None:
        policy = self.store.current
        err = self.store.error
        self.error.setText(f"The policy file has an error; the last good policy is in force: {err}" if err else "")
        self.error.setVisible(bool(err))
        needle = self.search.text().strip().lower()
        now = time.time()
        rows = []
        for r in policy.rules:
            cells = [r.id, r.action.value if r.action.value != "block" else "deny", r.tool,
                     ", ".join(f"{k}={v}" for k, v in r.args), r.agent or "(any)", _expiry(r, now), r.comment]
            if needle and needle not in " ".join(cells).lower():
                continue
            rows.append(cells)
        self.table.setRowCount(len(rows))
        for i, cells in enumerate(rows):
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if j == 1:
                    item.setForeground(Qt.GlobalColor.darkRed if text == "deny" else
                                       Qt.GlobalColor.darkGreen if text == "allow" else Qt.GlobalColor.darkYellow)
                self.table.setItem(i, j, item)
        self.statusBar().showMessage(f"{len(rows)} of {len(policy.rules)} rules  ·  {self.store.path}")

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.table.item(r, 0).text() for r in rows if self.table.item(r, 0) is not None]

    def add_rule(self, **values: Any) -> Any:
        try:
            rule = self.store.add_rule(values.pop("tool"), values.pop("action"), **values)
        except Exception as exc:
            QMessageBox.warning(self, "Airlock", f"The rule was not saved:\n{exc}")
            return None
        self.refresh()
        return rule

    def add_dialog(self) -> None:
        form = RuleForm(self)
        if form.exec() == QDialog.DialogCode.Accepted:
            self.add_rule(**form.values())

    def edit_rule(self, rule_id: str, **values: Any) -> Any:
        """Replace a rule in place through the policy store (same id, one atomic write)."""
        try:
            rule = self.store.replace_rule(rule_id, values.pop("tool"), values.pop("action"), **values)
        except Exception as exc:
            QMessageBox.warning(self, "Airlock", f"The rule was not changed:\n{exc}")
            return None
        self.refresh()
        return rule

    def edit_dialog(self) -> None:
        ids = self.selected_ids()
        rule = next((r for r in self.store.current.rules if ids and r.id == ids[0]), None)
        if rule is None:
            return
        form = RuleForm(self, rule)
        if form.exec() == QDialog.DialogCode.Accepted:
            self.edit_rule(rule.id, **form.values())

    def delete_selected(self, confirm: bool = True) -> int:
        ids = self.selected_ids()
        if not ids:
            return 0
        if confirm and QMessageBox.question(self, "Airlock", f"Delete {len(ids)} rule(s): {', '.join(ids)}?") \
                != QMessageBox.StandardButton.Yes:
            return 0
        n = 0
        for rid in ids:
            try:
                n += bool(self.store.remove_rule(rid))
            except Exception as exc:
                QMessageBox.warning(self, "Airlock", f"Rule {rid} was not deleted:\n{exc}")
        self.refresh()
        return n
