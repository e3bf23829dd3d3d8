"""The audit table model: a window onto the SQLite index, loaded a page at a time off the GUI thread.

``rowCount`` is the size of the whole result (a million rows is fine: the scroll bar is real),
but only pages Qt actually paints are fetched (``PAGE`` rows each, by offset) and at most
``MAX_PAGES`` are kept. Every query runs on one worker thread with its own connection inside a
read transaction, so the count, the rows and the newest seq come from one snapshot; results
are applied on the GUI thread and stale ones (an older search) are dropped by a generation
number. ``refresh`` adds records appended since the last snapshot (counted with ``seq >``)
without resetting the view: the selection and scroll position stay.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections import OrderedDict
from typing import Any, Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor

from airlock.audit_index import AuditIndex, CatchUp, SearchQuery, parse_search

__all__ = ["AuditModel", "COLUMNS", "QueryWorker"]

log = logging.getLogger("airlock.desktop.audit")

# (header, row key from AuditIndex.search, sort key)
COLUMNS = [("Time", "timestamp", "seq"), ("Agent", "agent", "agent"), ("Tool", "tool", "tool"),
           ("Decision", "decision", "decision"), ("By", "decided_by", "decided_by"), ("Level", "level", "level"),
           ("Rule", "rule", "rule")]

_DECISION_COLORS = {"blocked": "#c8352e", "denied": "#c8352e", "timeout": "#b7860b", "approved": "#2f7fbf",
                    "allowed": "#3a9d5d"}
PAGE = 200
MAX_PAGES = 24
REFRESH_PAGES = 4  # pages re-read after new records arrive (the ones most recently looked at)
SHALLOW_ROWS = 10_000  # ... if they start above this row: deep offsets cost a scan


class QueryWorker(QObject):
    """One thread running index reads in order; ``done(tag, result)`` arrives on the GUI thread."""

    done = Signal(object, object)

    def __init__(self, index: AuditIndex, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.idx = index
        self._q: queue.SimpleQueue[tuple[Any, Callable[[AuditIndex], Any]] | None] = queue.SimpleQueue()
        self._current: Any = None
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="airlock-audit-query", daemon=True)
        self._thread.start()

    def submit(self, tag: Any, fn: Callable[[AuditIndex], Any]) -> None:
        self._q.put((tag, fn))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            tag, fn = item
            if callable(getattr(tag, "stale", None)) and tag.stale():
                continue
            self._current = tag
            try:
                self._conn = self.idx._conn()
                try:
                    res: Any = fn(self.idx)
                except sqlite3.OperationalError as exc:  # interrupted just as it started: again
                    if "interrupt" not in str(exc) or (callable(getattr(tag, "stale", None)) and tag.stale()):
                        raise
                    res = fn(self.idx)
            except Exception as exc:  # shown in the window's status line (unless superseded)
                if not (callable(getattr(tag, "stale", None)) and tag.stale()):
                    log.exception("audit index query failed")
                res = exc
            finally:
                self._current = None
            try:
                self.done.emit(tag, res)
            except RuntimeError:  # receiver gone
                return

    def cancel_stale(self) -> None:
        """Interrupt the running query if its result is no longer wanted (a newer search): a
        slow count must not delay the rows the user now asks for. Thread-safe (sqlite3)."""
        tag, conn = self._current, self._conn
        if tag is not None and conn is not None and callable(getattr(tag, "stale", None)) and tag.stale():
            try:
                conn.interrupt()
            except Exception:
                pass

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join(5)


class _Tag:
    def __init__(self, model: "AuditModel", kind: str, page: int = -1) -> None:
        self.model, self.kind, self.page, self.gen = model, kind, page, model._gen

    def stale(self) -> bool:
        return self.gen != self.model._gen


def _snapshot(idx: AuditIndex, q: SearchQuery, sort: str, order: str, pages: list[int],
              after: int | None, count: bool = True) -> dict[str, Any]:
    """Rows of ``pages``, the newest seq and (if ``count``) how many match with seq > ``after``,
    all from one read transaction."""
    c = idx._conn()
    if c.in_transaction:  # left open by an interrupted query
        c.execute("ROLLBACK")
    c.execute("BEGIN")
    try:
        last = idx.last_seq()
        out: dict[str, Any] = {"last": last, "total": idx.size(), "count": None,
                               "pages": {p: idx.search(q, order=order, sort=sort, offset=p * PAGE, limit=PAGE)
                                         for p in pages}}
        if count:
            out["count"] = idx.count(q, after_seq=after) if after is None or last > after else 0
        elif q.empty:  # the whole index: its size is known without counting
            out["count"] = out["total"]
    finally:
        if c.in_transaction:
            c.execute("COMMIT")
    return out


class AuditModel(QAbstractTableModel):
    """Rows of the current search over the index. ``loaded`` fires after every applied result."""

    loaded = Signal()
    error = Signal(str)

    def __init__(self, index: AuditIndex, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.idx = index
        self.query = SearchQuery()
        self.sort_key, self.order = "seq", "desc"
        self.total = 0            # rows in the current result
        self.all_records = 0      # rows in the whole index
        self.last_seq = -1        # newest seq in the snapshot the rows come from
        self.ready = False
        self.counted = False
        self._base = 0
        self._applied_gen = -1
        self._pages: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self._pending: set[int] = set()
        self._gen = 0
        self._refreshing = False
        self._refresh_again = False
        self.worker = QueryWorker(index, self)
        self.worker.done.connect(self._done)

    # ----------------------------------------------------------------- Qt API
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self.total

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.row_at(index.row())
        key = COLUMNS[index.column()][1]
        if row is None:
            return "…" if role == Qt.ItemDataRole.DisplayRole and index.column() == 0 else None
        if role == Qt.ItemDataRole.DisplayRole:
            v = row.get(key)
            if key == "timestamp" and isinstance(v, str):
                return v.replace("T", " ")[:19]
            return "" if v is None else str(v)[:200]
        if role == Qt.ItemDataRole.ForegroundRole and key == "decision":
            c = _DECISION_COLORS.get(str(row.get("decision")))
            return QColor(c) if c else None
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column][2] if 0 <= column < len(COLUMNS) else "seq"
        self.set_sort(key, "desc" if order == Qt.SortOrder.DescendingOrder else "asc")

    # ------------------------------------------------------------------ ours
    @property
    def fresh(self) -> bool:
        """The first rows of the latest search/sort are in (the count may still be coming)."""
        return self.ready and self._applied_gen == self._gen

    def row_at(self, row: int) -> dict[str, Any] | None:
        """The indexed columns of ``row`` if its page is loaded; else asks for it and returns None."""
        if not 0 <= row < self.total:
            return None
        p = row // PAGE
        rows = self._pages.get(p)
        if rows is None:
            self._request(p)
            return None
        self._pages.move_to_end(p)
        i = row - p * PAGE
        return rows[i] if i < len(rows) else None

    def record_at(self, row: int) -> dict[str, Any] | None:
        """The full record of ``row`` read from the JSONL (None if not loaded or gone)."""
        r = self.row_at(row)
        return None if r is None else self.idx.get(r["seq"])

    def set_query(self, q: SearchQuery | str) -> None:
        self.query = parse_search(q) if isinstance(q, str) else q
        self._reload()

    def set_sort(self, key: str, order: str = "desc") -> None:
        self.sort_key, self.order = key, order
        self._reload()

    def _reload(self) -> None:
        self._gen += 1
        self._pending.clear()
        self._refreshing = self._refresh_again = False
        q, s, o = self.query, self.sort_key, self.order
        self.worker.cancel_stale()
        # rows first (fast), the count after (can take a while on a million rows)
        self.worker.submit(_Tag(self, "reset"), lambda idx: _snapshot(idx, q, s, o, [0], None, count=False))

    def refresh(self, res: CatchUp | None = None) -> None:
        """New records were indexed (or, if ``res`` says so, rows went away: start over)."""
        if res is not None and (res.rebuilt or res.pruned):
            self._reload()
            return
        if self._refreshing or not self.fresh:  # one at a time, and only on top of an applied reset:
            self._refresh_again = True           # the next one picks up everything since
            return
        self._refreshing = True
        q, s, o, after = self.query, self.sort_key, self.order, self.last_seq
        # re-read only shallow pages (cheap offsets) among those looked at last; deeper ones are
        # dropped by _apply_refresh and read again only if they are painted
        pages = [p for p in list(self._pages)[-REFRESH_PAGES:] if p * PAGE < SHALLOW_ROWS] or [0]
        self.worker.submit(_Tag(self, "refresh"), lambda idx: _snapshot(idx, q, s, o, pages, after))

    def _request(self, p: int) -> None:
        if p in self._pending or not self.ready:
            return
        self._pending.add(p)
        q, s, o = self.query, self.sort_key, self.order
        self.worker.submit(_Tag(self, "page", p),
                           lambda idx: idx.search(q, order=o, sort=s, offset=p * PAGE, limit=PAGE))

    def _keep(self, p: int, rows: list[dict[str, Any]]) -> None:
        self._pages[p] = rows
        self._pages.move_to_end(p)
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)

    def _changed(self, pages: Any) -> None:
        for p in pages:
            top, bottom = p * PAGE, min(self.total, (p + 1) * PAGE) - 1
            if bottom >= top:
                self.dataChanged.emit(self.index_of(top, 0), self.index_of(bottom, len(COLUMNS) - 1))

    def index_of(self, row: int, col: int) -> QModelIndex:
        return self.createIndex(row, col)

    def _done(self, tag: _Tag, res: Any) -> None:
        if tag.stale():
            return
        if tag.kind == "refresh":
            self._refreshing = False
        if isinstance(res, Exception):
            self._pending.discard(tag.page)
            self.error.emit(f"{type(res).__name__}: {res}")
            return
        if tag.kind == "reset":
            self.beginResetModel()
            first = res["pages"].get(0, [])
            self.all_records, self.last_seq = res["total"], res["last"]
            self.total = self._base = len(first) if res["count"] is None else res["count"]
            self.counted = res["count"] is not None or len(first) < PAGE  # a short first page is all
            self._pages.clear()
            for p, rows in res["pages"].items():
                self._keep(p, rows)
            self.ready = True
            self._applied_gen = tag.gen
            self.endResetModel()
            if self._refresh_again:
                self._refresh_again = False
                self.refresh()
            if not self.counted:
                q, upto = self.query, self.last_seq
                self.worker.submit(_Tag(self, "count"), lambda idx: idx.count(q, upto_seq=upto))
        elif tag.kind == "count":
            self.counted = True
            if res > self._base:  # rows of the reset's snapshot below its first page
                at_top = self.sort_key == "seq" and self.order == "desc"
                first = self.total if at_top else self._base  # refreshes add their rows before/after
                n = res - self._base
                self.beginInsertRows(QModelIndex(), first, first + n - 1)
                self.total += n
                self._base = res
                if not at_top:
                    for p in [p for p in self._pages if (p + 1) * PAGE > first]:
                        del self._pages[p]
                self.endInsertRows()
        elif tag.kind == "page":
            self._pending.discard(tag.page)
            self._keep(tag.page, res)
            self._changed([tag.page])
        else:
            self._apply_refresh(res)
            if self._refresh_again:
                self._refresh_again = False
                self.refresh()
        self.loaded.emit()

    def _apply_refresh(self, res: dict[str, Any]) -> None:
        n = res["count"]
        self.all_records, self.last_seq = res["total"], max(self.last_seq, res["last"])
        if n <= 0:
            return
        at_top = self.sort_key == "seq" and self.order == "desc"
        first = 0 if at_top else self.total
        self.beginInsertRows(QModelIndex(), first, first + n - 1)
        self.total += n
        if self.sort_key != "seq" or at_top:  # offsets moved: only the fresh pages are right
            self._pages.clear()
            self._pending.clear()
        for p, rows in res["pages"].items():
            self._keep(p, rows)
        self.endInsertRows()
        self._changed(list(self._pages))

    def view_rows(self, page: int = 5000) -> Any:
        """Every full record of the current view, in view order (for export); reads the index
        and the JSONL on the calling thread."""
        return self.idx.iter_records(self.query, order=self.order, sort=self.sort_key, page=page)

    def stop(self) -> None:
        self.worker.stop()
