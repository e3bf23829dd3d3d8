"""The table model over audit records: all loaded records, a filtered and sorted view of indices.

Rows are plain dicts as read from ``audit.jsonl`` (the record is the source of truth). Qt asks
only for the cells on screen, so drawing cost does not grow with the log.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

from .state import Query, matches, record_blob

__all__ = ["AuditModel", "COLUMNS"]

COLUMNS = [("Time", "timestamp"), ("Agent", "agent_name"), ("Tool", "tool_name"), ("Decision", "decision"),
           ("By", "decided_by"), ("Level", "threat_level"), ("Rule", "rule_id")]

_DECISION_COLORS = {"blocked": "#c8352e", "denied": "#c8352e", "timeout": "#b7860b", "approved": "#2f7fbf",
                    "allowed": "#3a9d5d"}


class AuditModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.records: list[dict[str, Any]] = []
        self._blobs: list[str | None] = []
        self.view: list[int] = []
        self.query = Query()
        self._sort: tuple[int, bool] | None = None  # (column, descending)

    # ----------------------------------------------------------------- Qt API
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.view)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        rec = self.records[self.view[index.row()]]
        key = COLUMNS[index.column()][1]
        if role == Qt.ItemDataRole.DisplayRole:
            v = rec.get(key)
            if key == "timestamp" and isinstance(v, str):
                return v.replace("T", " ")[:19]
            return "" if v is None else str(v)[:200]
        if role == Qt.ItemDataRole.ForegroundRole and key == "decision":
            c = _DECISION_COLORS.get(str(rec.get("decision")))
            return QColor(c) if c else None
        if role == Qt.ItemDataRole.ToolTipRole and key in ("decision", "decided_by"):
            return str(rec.get("reason") or "")[:500]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order == Qt.SortOrder.DescendingOrder)
        self._apply_sort()
        self.layoutChanged.emit()

    # ------------------------------------------------------------------ ours
    def record_at(self, row: int) -> dict[str, Any] | None:
        return self.records[self.view[row]] if 0 <= row < len(self.view) else None

    def _blob(self, i: int) -> str:
        b = self._blobs[i]
        if b is None:
            b = self._blobs[i] = record_blob(self.records[i])
        return b

    def _ok(self, i: int) -> bool:
        return self.query.empty or matches(self.records[i], self.query, self._blob(i) if self.query.words else None)

    def _apply_sort(self) -> None:
        if self._sort is None:
            return
        col, desc = self._sort
        key = COLUMNS[col][1]
        self.view.sort(key=lambda i: str(self.records[i].get(key) or ""), reverse=desc)

    def set_records(self, records: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self._blobs = [None] * len(self.records)
        self.view = [i for i in range(len(self.records)) if self._ok(i)]
        self._apply_sort()
        self.endResetModel()

    def set_query(self, q: Query) -> None:
        self.beginResetModel()
        self.query = q
        self.view = [i for i in range(len(self.records)) if self._ok(i)]
        self._apply_sort()
        self.endResetModel()

    def append(self, records: list[dict[str, Any]]) -> None:
        start = len(self.records)
        self.records.extend(records)
        self._blobs.extend([None] * len(records))
        new = [i for i in range(start, len(self.records)) if self._ok(i)]
        if not new:
            return
        if self._sort is not None:
            self.layoutAboutToBeChanged.emit()
            self.view.extend(new)
            self._apply_sort()
            self.layoutChanged.emit()
        else:
            self.beginInsertRows(QModelIndex(), len(self.view), len(self.view) + len(new) - 1)
            self.view.extend(new)
            self.endInsertRows()

    def visible_records(self) -> list[dict[str, Any]]:
        return [self.records[i] for i in self.view]
