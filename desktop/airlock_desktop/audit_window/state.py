"""Following ``audit.jsonl`` from the GUI: the index updater thread, and a plain tail for the tray.

``IndexUpdater`` keeps the SQLite index (``airlock.audit_index``) caught up: watchdog events on the
log's directory (plus a 1 s poll as a safety net) wake a worker thread that indexes what was
appended and reports on the GUI thread, so the audit window can show new records within
milliseconds without the GUI thread ever touching the files. ``Tail``/``AuditFollower`` read new
records directly (the tray uses them for notifications; no index needed there).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from airlock.audit_index import AuditIndex

__all__ = ["Tail", "AuditFollower", "IndexUpdater", "watch_dir"]

log = logging.getLogger("airlock.desktop.audit")

MAX_LINE = 1 << 20


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
        self._observer = watch_dir(self.tail.path, self._poke.emit)

    def _read(self) -> None:
        recs = self.tail.read_new()
        if recs:
            self.records_added.emit(recs)

    def stop(self) -> None:
        self._timer.stop()
        _stop_observer(self._observer)
        self._observer = None


def watch_dir(path: Path, callback: Callable[[], None]) -> Any:
    """Call ``callback()`` (from watchdog's thread) on any event touching ``path`` or its
    rotated files. Returns the observer, or None when watchdog cannot run (callers poll)."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        name = path.name

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                for p in (getattr(event, "src_path", ""), getattr(event, "dest_path", "")):
                    if p and os.path.basename(os.fsdecode(p)).startswith(name) and not str(p).endswith(
                            (".lock", ".head")):
                        callback()
                        return

        path.parent.mkdir(parents=True, exist_ok=True)
        obs = Observer()
        obs.schedule(_Handler(), str(path.parent), recursive=False)
        obs.daemon = True
        obs.start()
        return obs
    except Exception as exc:  # polling still works
        log.warning("watchdog unavailable (%s); polling the audit log", exc)
        return None


class IndexUpdater(QObject):
    """Keeps an ``AuditIndex`` caught up on its own thread; emits ``updated(CatchUp)`` on the GUI
    thread after every catch-up that changed something, and ``progress(int)`` during long ones."""

    updated = Signal(object)
    progress = Signal(int)
    failed = Signal(str)

    def __init__(self, index: AuditIndex, poll_s: float = 1.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: Any = None
        self.busy = False
        self.last_error = ""

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._observer = watch_dir(self.index.log_path, self._wake.set)
        self._thread = threading.Thread(target=self._run, name="airlock-audit-index", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.busy = True
            try:
                res = self.index.catch_up(progress=self._progress, stop=self._stop.is_set)
                self.last_error = ""
                if res.added or res.rebuilt or res.pruned:
                    self._emit(self.updated, res)
            except Exception as exc:  # reported in the window; the JSONL is untouched
                log.exception("indexing the audit log failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._emit(self.failed, self.last_error)
            finally:
                self.busy = False
            self._wake.wait(self.poll_s)

    def _progress(self, n: int) -> None:
        self._emit(self.progress, n)

    def _emit(self, sig: Any, value: Any) -> None:
        try:
            sig.emit(value)
        except RuntimeError:  # the QObject is gone (window closed)
            self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        _stop_observer(self._observer)
        self._observer = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def _stop_observer(observer: Any) -> None:
    """Stop a watchdog observer; a failure while shutting down must not stop the window closing."""
    if observer is None:
        return
    try:
        observer.stop()
        observer.join(2)
    except Exception:
        pass
