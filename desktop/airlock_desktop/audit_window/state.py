"""What the audit window knows besides its rows: the search query, and the tail of ``audit.jsonl``.

``parse_query``/``matches`` are pure (no Qt) and linear: ``agent:`` ``tool:`` ``decision:``
``level:`` filters plus free words matched as substrings. ``Tail`` reads only the complete
lines appended since last time and notices truncation and rotation; ``AuditFollower`` drives it
from watchdog events (with a slow poll as a safety net) and emits new records on the GUI thread.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

__all__ = ["Query", "parse_query", "matches", "Tail", "AuditFollower", "record_blob"]

log = logging.getLogger("airlock.desktop.audit")

MAX_LINE = 1 << 20
_KEYS = ("agent", "tool", "decision", "level")


@dataclass(slots=True)
class Query:
    words: list[str] = field(default_factory=list)
    agent: str = ""
    tool: str = ""
    decision: str = ""
    level: str = ""

    @property
    def empty(self) -> bool:
        return not (self.words or self.agent or self.tool or self.decision or self.level)


def parse_query(text: str) -> Query:
    q = Query()
    for token in text.split()[:64]:
        key, sep, value = token.partition(":")
        if sep and key.lower() in _KEYS and value:
            setattr(q, key.lower(), value.lower())
        else:
            q.words.append(token.lower())
    return q


def record_blob(rec: dict[str, Any]) -> str:
    """The text free words are searched in (lowercase, capped)."""
    parts = [str(rec.get(k) or "") for k in ("timestamp", "agent_name", "tool_name", "decision", "decided_by",
                                               "threat_level", "reason", "rule_id", "risk", "event")]
    try:
        parts.append(json.dumps(rec.get("tool_input"), ensure_ascii=False, default=str)[:4000])
    except (TypeError, ValueError):
        pass
    return " ".join(parts).lower()


def matches(rec: dict[str, Any], q: Query, blob: str | None = None) -> bool:
    if q.agent and q.agent not in str(rec.get("agent_name") or "").lower():
        return False
    if q.tool and q.tool not in str(rec.get("tool_name") or "").lower():
        return False
    if q.decision and not str(rec.get("decision") or "").lower().startswith(q.decision):
        return False
    if q.level and str(rec.get("threat_level") or "").lower() != q.level:
        return False
    if q.words:
        b = blob if blob is not None else record_blob(rec)
        return all(w in b for w in q.words)
    return True


class Tail:
    """Incremental reader of one JSONL file: complete new lines only; survives truncation/rotation."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.ident: tuple[int, int] | None = None
        self._buf = b""

    def skip_to_end(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        self.ident, self.offset, self._buf = (st.st_dev, st.st_ino), st.st_size, b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        ident = (st.st_dev, st.st_ino)
        if ident != self.ident or st.st_size < self.offset:  # rotated or truncated: start over
            self.ident, self.offset, self._buf = ident, 0, b""
        if st.st_size == self.offset:
            return []
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(64 << 20)
        except OSError:
            return []
        self.offset += len(data)
        *lines, self._buf = (self._buf + data).split(b"\n")
        if len(self._buf) > MAX_LINE:
            self._buf = b""
        out = []
        for line in lines:
            if not line.strip() or len(line) > MAX_LINE:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out


class AuditFollower(QObject):
    """Emits ``records_added(list[dict])`` on the GUI thread soon after lines are appended."""

    records_added = Signal(list)
    _poke = Signal()

    def __init__(self, path: Path, poll_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tail = Tail(path)
        self._observer: Any = None
        self._poke.connect(self._read, Qt.ConnectionType.QueuedConnection)
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._read)

    def start(self, skip_existing: bool = True) -> None:
        if skip_existing:
            self.tail.skip_to_end()
        self._timer.start()
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            follower = self
            name = self.tail.path.name

            class _Handler(FileSystemEventHandler):
                def on_any_event(self, event: Any) -> None:
                    paths = (getattr(event, "src_path", ""), getattr(event, "dest_path", ""))
                    if any(str(p).endswith(name) for p in paths if p):
                        follower._poke.emit()

            self.tail.path.parent.mkdir(parents=True, exist_ok=True)
            self._observer = Observer()
            self._observer.schedule(_Handler(), str(self.tail.path.parent), recursive=False)
            self._observer.daemon = True
            self._observer.start()
        except Exception as exc:  # polling still works
            log.warning("watchdog unavailable (%s); polling the audit log", exc)
            self._observer = None

    def _read(self) -> None:
        recs = self.tail.read_new()
        if recs:
            self.records_added.emit(recs)

    def stop(self) -> None:
        self._timer.stop()
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(2)
            except Exception:
                pass
            self._observer = None
