"""The audit log window: search box, table, detail pane, chain status, export.

Rows come from the SQLite index (``airlock.audit_index``), kept up to date by ``IndexUpdater``
(watchdog + worker thread) and read a page at a time by ``AuditModel`` on its own thread: the
GUI thread never scans the log, so a million records open and search without freezing. The
detail pane re-reads the full record from the JSONL. The chain check (``airlock.audit.verify``)
runs on a worker thread and reports in the status line.
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
from airlock.audit_index import AuditIndex, CatchUp, parse_search

from .model import COLUMNS, AuditModel
from .state import IndexUpdater

__all__ = ["AuditWindow"]


_VERIFY_CHILD = ("import json, sys\nfrom airlock.audit import verify\n"
                 "try:\n    print(json.dumps(verify(sys.argv[1]).to_dict()))\n"
                 "except FileNotFoundError:\n    sys.exit(3)\n")


def _verify_elsewhere(path: Path, procs: list | None = None) -> Any:
    """``airlock.audit.verify`` in a child process: hashing a big log takes the GIL for a long
    time, and the GUI thread must stay responsive meanwhile. Falls back to in-process."""
    import os
    import subprocess
    import sys
    from types import SimpleNamespace

    import airlock

    env = dict(os.environ)
    pkg_root = str(Path(airlock.__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.Popen([sys.executable, "-c", _VERIFY_CHILD, str(path)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return core_audit.verify(path)
    if procs is not None:
        procs.append(proc)  # the window ends it when it closes
    try:
        out, _ = proc.communicate(timeout=3600)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    finally:
        if procs is not None and proc in procs:
            procs.remove(proc)
    if proc.returncode == 3:
        raise FileNotFoundError(str(path))
    if proc.returncode < 0:
        raise RuntimeError("check stopped (window closed)")
    try:
        return SimpleNamespace(**json.loads(out))
    except (ValueError, TypeError):
        return core_audit.verify(path)


class _Verifier(QObject):
    done = Signal(str, bool)
    exported = Signal(str)


class AuditWindow(QMainWindow):
    def __init__(self, path: Path, index_path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.index = AuditIndex(self.path, index_path)
        self.setObjectName("airlockAuditWindow")
        self.setWindowTitle(f"Airlock audit log: {self.path}")
        self.resize(1100, 640)
        self.model = AuditModel(self.index, self)
        self.chain_status = "chain: not checked"
        self.index_status = ""
        self.search_errors: list[str] = []

        central = QWidget()
        lay = QVBoxLayout(central)
        top = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search: words, agent:NAME tool:NAME decision:denied level:high since:2026-11-01 last:1h")
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
        for i, (name, *_k) in enumerate(COLUMNS):
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

        self._verify_procs: list[Any] = []
        self._verifier = _Verifier()
        self._verifier.done.connect(self._verified)
        self._verifier.exported.connect(self._exported)
        self.model.loaded.connect(self._update_status)
        self.model.error.connect(self._model_error)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # newest first (sets the model's sort)
        self.updater = IndexUpdater(self.index, parent=self)
        self.updater.updated.connect(self._indexed)
        self.updater.progress.connect(self._indexing)
        self.updater.failed.connect(self._index_failed)
        self.updater.start()
        self.verify()

    # ---------------------------------------------------------------- loading
    def reload(self) -> None:
        """Query the index again (the updater adds new records by itself)."""
        self.model.set_query(self.model.query)

    def _indexed(self, res: CatchUp) -> None:
        self.index_status = f"index rebuilt ({res.reason})" if res.rebuilt else ""
        self.model.refresh(res)

    def _indexing(self, n: int) -> None:
        self.index_status = f"indexing… {n:,} records"
        self.model.refresh()
        self._update_status()

    def _index_failed(self, msg: str) -> None:
        self.index_status = f"index problem: {msg}"
        self._update_status()

    def _model_error(self, msg: str) -> None:
        self.index_status = f"query failed: {msg}"
        self._update_status()

    def apply_search(self) -> None:
        q = parse_search(self.search.text())
        self.search_errors = q.errors
        self.model.set_query(q)
        self._update_status()

    def _update_status(self) -> None:
        m = self.model
        parts = [f"{m.rowCount():,} of {m.all_records:,} records" if m.ready else "loading…"]
        parts += self.search_errors[:2]
        if self.index_status:
            parts.append(self.index_status)
        parts.append(self.chain_status)
        self.status.setText("  ·  ".join(parts))

    def _show_detail(self, row: int) -> None:
        rec = self.model.record_at(row)
        if rec is None:
            self.detail.setPlainText("" if row < 0 else "(record not loaded yet, or no longer in the log files)")
            return
        self.detail.setPlainText(json.dumps(rec, indent=2, ensure_ascii=False, default=str)[:200_000])

    # ----------------------------------------------------------------- verify
    def verify(self) -> None:
        self.chain_status = "chain: checking…"
        self._update_status()

        def work() -> None:
            try:
                rep = _verify_elsewhere(self.path, self._verify_procs)
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
    def export(self, fmt: str, target: str | None = None, wait: bool = True) -> Path | None:
        """Write every record of the current view (search + sort) as CSV or JSONL. With
        ``wait=False`` (the buttons) it runs on a thread and reports in the status line."""
        if target is None:
            target, _ = QFileDialog.getSaveFileName(self, "Export the current view", f"airlock-audit.{fmt}")
            if not target:
                return None
            wait = False
        out = Path(target)
        if wait:
            self._write_export(fmt, out)
            return out
        self.index_status = f"exporting to {out.name}…"
        self._update_status()

        def work() -> None:
            try:
                n = self._write_export(fmt, out)
                msg = f"exported {n:,} records to {out}"
            except Exception as exc:
                msg = f"export failed: {type(exc).__name__}: {exc}"
            try:
                self._verifier.exported.emit(msg)
            except RuntimeError:
                pass

        threading.Thread(target=work, name="airlock-audit-export", daemon=True).start()
        return out

    def _write_export(self, fmt: str, out: Path) -> int:
        n = 0
        with open(out, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh) if fmt == "csv" else None
            keys = ["timestamp", "agent_name", "tool_name", "decision", "decided_by", "threat_level", "rule_id",
                    "reason", "seq", "hash"]
            if w is not None:
                w.writerow(keys)
            for r in self.model.view_rows():
                if w is not None:
                    w.writerow(["" if r.get(k) is None else str(r.get(k)) for k in keys])
                else:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
                n += 1
        return n

    def _exported(self, msg: str) -> None:
        self.index_status = msg
        self._update_status()

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.updater.stop()
        for proc in list(self._verify_procs):  # our own child: a closed window checks nothing
            try:
                proc.terminate()
            except OSError:
                pass
        super().closeEvent(event)

    def showEvent(self, event: Any) -> None:  # noqa: N802
        self.updater.start()
        super().showEvent(event)
