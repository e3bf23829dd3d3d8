"""The audit log window: search box, table, detail pane, chain status, export.

Loads the newest ``initial`` records (``airlock.audit.tail``), then follows the file. The chain
check (``airlock.audit.verify``) runs on a worker thread and reports in the status line.
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QMainWindow, QPushButton, QSplitter, QTableView, QTextBrowser, QVBoxLayout,
                               QWidget)

from airlock import audit as core_audit

from .model import COLUMNS, AuditModel
from .state import AuditFollower, parse_query

__all__ = ["AuditWindow"]


class _Verifier(QObject):
    done = Signal(str, bool)


class AuditWindow(QMainWindow):
    def __init__(self, path: Path, initial: int = 20_000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.initial = initial
        self.setObjectName("airlockAuditWindow")
        self.setWindowTitle(f"Airlock audit log: {self.path}")
        self.resize(1100, 640)
        self.model = AuditModel(self)
        self.chain_status = "chain: not checked"

        central = QWidget()
        lay = QVBoxLayout(central)
        top = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search: words, agent:NAME tool:NAME decision:denied level:high")
        self.search.setClearButtonEnabled(True)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.apply_search)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        top.addWidget(self.search, 1)
        for text, slot in (("Verify chain", self.verify), ("Export CSV…", lambda: self.export("csv")),
                           ("Export JSONL…", lambda: self.export("jsonl"))):
            b = QPushButton(text)
            b.clicked.connect(slot)
            top.addWidget(b)
        lay.addLayout(top)

        split = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableView()
        self.table.setObjectName("table")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        widths = {"Time": 150, "Agent": 150, "Tool": 170, "Decision": 90, "By": 140, "Level": 80}
        for i, (name, _k) in enumerate(COLUMNS):
            if name in widths:
                self.table.setColumnWidth(i, widths[name])
        hh.setStretchLastSection(True)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._show_detail(cur.row()))
        split.addWidget(self.table)
        self.detail = QTextBrowser()
        self.detail.setObjectName("detail")
        split.addWidget(self.detail)
        split.setSizes([420, 200])
        lay.addWidget(split, 1)
        self.setCentralWidget(central)

        self.status = QLabel("")
        self.status.setObjectName("status")
        self.statusBar().addWidget(self.status, 1)

        self._verifier = _Verifier()
        self._verifier.done.connect(self._verified)
        self.follower = AuditFollower(self.path, parent=self)
        self.follower.records_added.connect(self._append)
        self.reload()
        self.verify()

    # ---------------------------------------------------------------- loading
    def reload(self) -> None:
        try:
            recs = core_audit.tail(self.path, self.initial) if self.path.exists() else []
        except OSError as exc:
            recs = []
            self.chain_status = f"cannot read the log: {exc}"
        self.follower.stop()
        self.follower.tail.skip_to_end()
        self.model.set_records(recs)
        self.follower.start(skip_existing=False)
        self._update_status()

    def _append(self, recs: list[dict[str, Any]]) -> None:
        at_bottom = self.table.verticalScrollBar().value() >= self.table.verticalScrollBar().maximum() - 2
        self.model.append(recs)
        if at_bottom:
            self.table.scrollToBottom()
        self._update_status()

    def apply_search(self) -> None:
        self.model.set_query(parse_query(self.search.text()))
        self._update_status()

    def _update_status(self) -> None:
        total, shown = len(self.model.records), self.model.rowCount()
        cap = f" (newest {self.initial:,} loaded)" if total >= self.initial else ""
        self.status.setText(f"{shown:,} of {total:,} records shown{cap}  ·  {self.chain_status}")

    def _show_detail(self, row: int) -> None:
        rec = self.model.record_at(row)
        if rec is None:
            self.detail.clear()
            return
        self.detail.setPlainText(json.dumps(rec, indent=2, ensure_ascii=False, default=str)[:200_000])

    # ----------------------------------------------------------------- verify
    def verify(self) -> None:
        self.chain_status = "chain: checking…"
        self._update_status()

        def work() -> None:
            try:
                rep = core_audit.verify(self.path)
                if rep.ok:
                    warn = f" ({len(rep.warnings)} warning(s))" if rep.warnings else ""
                    msg, ok = f"chain: intact, {rep.records:,} records verified{warn}", True
                else:
                    msg, ok = f"chain: BROKEN: {rep.problem}", False
            except FileNotFoundError:
                msg, ok = "chain: no audit log yet", True
            except Exception as exc:
                msg, ok = f"chain: could not check ({type(exc).__name__}: {exc})", False
            try:
                self._verifier.done.emit(msg, ok)
            except RuntimeError:  # window gone
                pass

        threading.Thread(target=work, name="airlock-audit-verify", daemon=True).start()

    def _verified(self, msg: str, ok: bool) -> None:
        self.chain_status = msg
        self.status.setStyleSheet("" if ok else "color:#c8352e;font-weight:bold")
        self._update_status()

    # ----------------------------------------------------------------- export
    def export(self, fmt: str, target: str | None = None) -> Path | None:
        if target is None:
            target, _ = QFileDialog.getSaveFileName(self, "Export the current view", f"airlock-audit.{fmt}")
            if not target:
                return None
        recs = self.model.visible_records()
        out = Path(target)
        with open(out, "w", encoding="utf-8", newline="") as fh:
            if fmt == "csv":
                w = csv.writer(fh)
                keys = [k for _n, k in COLUMNS] + ["reason", "seq", "hash"]
                w.writerow(keys)
                for r in recs:
                    w.writerow(["" if r.get(k) is None else str(r.get(k)) for k in keys])
            else:
                for r in recs:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        return out

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.follower.stop()
        super().closeEvent(event)

    def showEvent(self, event: Any) -> None:  # noqa: N802
        if self.follower._observer is None:
            self.reload()
        super().showEvent(event)
