"""A rebuildable SQLite + FTS5 index of ``audit.jsonl`` for fast browsing and search.

The JSONL files stay the record: the index lives in the XDG cache dir, holds one row per record
(seq, time, agent, tool, decision, level, rule, decided_by, event, and where the line is) plus a
contentless full-text index of every value, and can always be thrown away and rebuilt
(``rebuild``). ``catch_up`` reads only what was appended since last time, found by (file inode,
byte offset): a rotated file is finished under its new name and the newer files are read after
it; a shrunk or rewritten file (the last indexed line no longer there) or a log that started
over triggers a rebuild; records whose file was deleted (oldest backup) are dropped.

Threads: each thread gets its own connection (WAL: readers never wait for the writer); writers
are serialised by a thread lock plus ``flock`` on a sidecar file, so several processes may share
one index. ``get(seq)`` re-reads the record from the JSONL at the stored offset.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from . import _dirs
from ._audit_files import (MAX_LINE, chain_files, default_path, first_seq, iter_lines, last_record,
                           parse_record)
from ._audit_index_rows import digest as _digest
from ._audit_index_rows import row as _row
from ._audit_index_rows import text as _text
from ._audit_query import SearchQuery, fts_expression, parse_search, parse_time, where_clause

__all__ = ["AuditIndex", "CatchUp", "SearchQuery", "parse_search", "default_index_path", "SORT_KEYS"]

SCHEMA_VERSION = 2
_ROW_COLS = ("seq", "timestamp", "epoch", "agent", "tool", "decision", "level", "rule", "decided_by", "event")
_SQL_COLS = "r.seq, r.ts, r.epoch, r.agent, r.tool, r.decision, r.level, r.rule, r.decided_by, r.event"
SORT_KEYS = {"seq": "r.seq", "timestamp": "r.epoch", "agent": "r.agent COLLATE NOCASE",
             "tool": "r.tool COLLATE NOCASE", "decision": "r.decision COLLATE NOCASE",
             "level": "r.level COLLATE NOCASE", "rule": "r.rule", "decided_by": "r.decided_by", "event": "r.event"}
# NOCASE so that LIKE 'prefix%' (case-insensitive) and the sorts above can use them
_INDEXED = {"epoch": "epoch", "agent": "agent COLLATE NOCASE", "tool": "tool COLLATE NOCASE",
            "decision": "decision COLLATE NOCASE", "level": "level COLLATE NOCASE"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS records(seq INTEGER PRIMARY KEY, ts TEXT, epoch REAL, agent TEXT, tool TEXT,
    decision TEXT, level TEXT, rule TEXT, decided_by TEXT, event TEXT, ino INTEGER, off INTEGER, len INTEGER);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(body, content='', columnsize=0,
    tokenize='unicode61 remove_diacritics 2');
"""


def default_index_path(log_path: str | os.PathLike[str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/airlock/audit-index/<hash of the log's path>.sqlite3``."""
    log = Path(log_path) if log_path is not None else default_path()
    key = hashlib.sha256(str(log.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return _dirs.cache_dir() / "audit-index" / f"{key}.sqlite3"


@dataclass
class CatchUp:
    """What one ``catch_up`` did. ``rebuilt``/``pruned``: rows went away, so views must requery
    from scratch; otherwise only rows with seq > ``prev_last_seq`` are new."""

    added: int = 0
    rebuilt: bool = False
    pruned: int = 0
    prev_last_seq: int = -1
    last_seq: int = -1
    reason: str = ""


class AuditIndex:
    """The index of one audit log. Safe to share between threads (one connection per thread)."""

    def __init__(self, log_path: str | os.PathLike[str] | None = None,
                 index_path: str | os.PathLike[str] | None = None) -> None:
        self.log_path = Path(log_path) if log_path is not None else default_path()
        self.path = Path(index_path) if index_path is not None else default_index_path(self.log_path)
        if index_path is None:
            _dirs.ensure_private_dir(self.path.parent)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop: Callable[[], bool] | None = None
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        if not self._ready():
            with self._writing():
                self._open_checked()

    def _ready(self) -> bool:
        """The index exists with our schema (checked without the writers' lock, which a long
        catch-up elsewhere may hold: opening a window must not wait for it)."""
        try:
            return self._meta(self._conn(), "version") == str(SCHEMA_VERSION)
        except sqlite3.DatabaseError:
            return False

    # ---------------------------------------------------------------- connections
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last commit on power loss is fine
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-32000")
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = self._connect()
        return c

    def _open_checked(self) -> None:
        """Open (creating the schema); a corrupt or foreign-version file is deleted and recreated."""
        try:
            c = self._conn()
            c.executescript(_SCHEMA)
            if self._meta(c, "version") != str(SCHEMA_VERSION):
                if self._meta(c, "version") is not None:
                    self._drop_all(c)
                    c.executescript(_SCHEMA)
                self._set_meta(c, version=SCHEMA_VERSION, log=str(self.log_path))
                self._create_indexes(c)
        except sqlite3.DatabaseError:
            self.close()
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(str(self.path) + suffix)
                except FileNotFoundError:
                    pass
            c = self._conn()
            c.executescript(_SCHEMA)
            self._set_meta(c, version=SCHEMA_VERSION, log=str(self.log_path))
            self._create_indexes(c)

    def close(self) -> None:
        """Close every connection (call when no other thread uses the index any more)."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    def __enter__(self) -> "AuditIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- meta
    @staticmethod
    def _meta(c: sqlite3.Connection, key: str) -> str | None:
        row = c.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def _set_meta(c: sqlite3.Connection, **kv: Any) -> None:
        c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)",
                      [(k, None if v is None else str(v)) for k, v in kv.items()])

    def _state(self, c: sqlite3.Connection) -> dict[str, Any]:
        st = dict(c.execute("SELECT key, value FROM meta").fetchall())
        out: dict[str, Any] = {}
        for k in ("ino", "offset", "last_seq", "last_off", "last_len"):
            v = st.get(k)
            out[k] = int(v) if v not in (None, "") else None
        out["last_hash"] = st.get("last_hash")
        out["last_digest"] = st.get("last_digest")
        out["orphans"] = int(st.get("orphans") or 0)
        return out

    @staticmethod
    def _create_indexes(c: sqlite3.Connection) -> None:
        for col, spec in _INDEXED.items():
            c.execute(f"CREATE INDEX IF NOT EXISTS idx_{col} ON records({spec})")

    @staticmethod
    def _drop_indexes(c: sqlite3.Connection) -> None:
        for col in _INDEXED:
            c.execute(f"DROP INDEX IF EXISTS idx_{col}")

    @staticmethod
    def _drop_all(c: sqlite3.Connection) -> None:
        for t in ("fts", "records", "meta"):
            c.execute(f"DROP TABLE IF EXISTS {t}")

    # ---------------------------------------------------------------- writing
    class _Writing:
        def __init__(self, idx: "AuditIndex") -> None:
            self.idx, self.fd = idx, -1

        def __enter__(self) -> None:
            self.idx._write_lock.acquire()
            try:
                self.fd = os.open(self.idx._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            except BaseException:
                if self.fd >= 0:
                    os.close(self.fd)
                self.idx._write_lock.release()
                raise

        def __exit__(self, *exc: object) -> None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
            finally:
                self.idx._write_lock.release()

    def _writing(self) -> "AuditIndex._Writing":
        return AuditIndex._Writing(self)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> CatchUp:
        """Forget everything and index the log again from its files."""
        with self._writing():
            c = self._conn()
            prev = self._state(c)["last_seq"]
            self._reset(c)
            res = self._catch_up_locked(c, progress)
        res.rebuilt, res.reason = True, "rebuild requested"
        res.prev_last_seq = -1 if prev is None else prev
        return res

    def _reset(self, c: sqlite3.Connection) -> None:
        c.execute("BEGIN IMMEDIATE")
        self._drop_all(c)
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                c.execute(stmt)
        self._set_meta(c, version=SCHEMA_VERSION, log=str(self.log_path), rows=0)
        self._create_indexes(c)
        c.execute("COMMIT")

    def catch_up(self, progress: Callable[[int], None] | None = None,
                 stop: Callable[[], bool] | None = None) -> CatchUp:
        """Index what was appended since the last call (or everything, the first time).
        ``progress(n)`` is called after each committed batch with the number added so far;
        ``stop()`` returning True ends the work after a batch (the next call goes on from there)."""
        with self._writing():
            self._stop = stop
            try:
                return self._catch_up_locked(self._conn(), progress)
            finally:
                self._stop = None

    def _files(self) -> list[tuple[Path, os.stat_result]]:
        """The log's files, oldest first, with their stat. Listed under a shared lock on the
        writer's lock file: ``AuditLog`` rotates (several renames) under its exclusive lock, so
        we never see a half-rotated set (which could skip a whole file)."""
        try:
            fd = os.open(self.log_path.with_name(self.log_path.name + ".lock"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            fd = -1  # no writer has ever run here
        try:
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_SH)
            out = []
            for f in chain_files(self.log_path):
                try:
                    out.append((f, os.stat(f)))
                except FileNotFoundError:
                    pass
            return out
        finally:
            if fd >= 0:
                os.close(fd)

    def _rank(self, path: Path) -> int:
        """0 for the live file, N for ``audit.jsonl.N``: rotation only ever raises a file's rank."""
        suffix = path.name[len(self.log_path.name):]
        return int(suffix[1:]) if suffix[1:].isdigit() else 0

    def _open_same(self, path: Path, ino: int) -> Any:
        """A read handle on the file with inode ``ino`` that was listed as ``path``, following a
        rename by rotation; None when it no longer exists. Only a move to a higher rank counts:
        a deleted backup's inode is often reused at once by the new live file, and following it
        there would read the newest records as if they were the oldest."""
        for _ in range(3):
            try:
                fh = open(path, "rb")
            except FileNotFoundError:
                fh = None
            if fh is not None:
                if os.fstat(fh.fileno()).st_ino == ino:
                    return fh
                fh.close()
            rank = self._rank(path)
            moved = next((f for f, st in self._files() if st.st_ino == ino and self._rank(f) > rank), None)
            if moved is None:
                return None
            path = moved
        return None

    def _last_changed(self, c: sqlite3.Connection, files: list[tuple[Path, os.stat_result]],
                      st: dict[str, Any]) -> bool:
        """Our last indexed record is not where the log now has it (slow path only: reads files)."""
        if st["last_seq"] is None or st["last_digest"] is None:
            return False
        for f, _s in reversed(files):
            first = first_seq(f)
            if first is None or first > st["last_seq"]:
                continue
            try:
                with open(f, "rb") as fh:
                    for _n, raw, complete in iter_lines(fh):
                        rec = parse_record(raw) if complete else None
                        if rec is not None and rec["seq"] == st["last_seq"]:
                            return _digest(raw) != st["last_digest"]
            except OSError:
                return False
            return False
        return False

    def _still_there(self, path: Path, st: dict[str, Any]) -> bool:
        """Is the last indexed line still where we left it, unchanged?"""
        if st["last_off"] is None or st["last_seq"] is None:
            return True
        try:
            with open(path, "rb") as fh:
                fh.seek(st["last_off"])
                raw = fh.read(st["last_len"] or 0)
        except OSError:
            return False
        return _digest(raw) == st["last_digest"]

    def _catch_up_locked(self, c: sqlite3.Connection, progress: Callable[[int], None] | None,
                         _again: bool = True) -> CatchUp:
        st = self._state(c)
        last_seq = -1 if st["last_seq"] is None else st["last_seq"]
        res = CatchUp(prev_last_seq=last_seq, last_seq=last_seq)
        files = self._files()
        # records whose file is gone (the oldest backups were deleted): drop them. Found by seq,
        # not by inode: a deleted file's inode is often reused at once by the new live file.
        # Rotation renames files to higher numbers while we look: a name may now hold a newer
        # file, so only trust what we read through a handle on the inode we listed.
        oldest = None
        if files:
            fh0 = self._open_same(files[0][0], files[0][1].st_ino)
            if fh0 is not None:
                with fh0:
                    oldest = next((r["seq"] for _n, raw, ok in iter_lines(fh0)
                                   if ok and (r := parse_record(raw)) is not None), None)
        if oldest is not None and last_seq >= 0:
            c.execute("BEGIN IMMEDIATE")
            res.pruned = c.execute("DELETE FROM records WHERE seq < ?", (oldest,)).rowcount
            if res.pruned:
                self._set_meta(c, orphans=st["orphans"] + res.pruned,
                               rows=max(0, int(self._meta(c, "rows") or 0) - res.pruned))
            c.execute("COMMIT")
            if st["orphans"] + res.pruned > max(100_000, last_seq // 2) and _again:
                self._reset(c)  # too many dead entries in the contentless FTS table: start clean
                out = self._catch_up_locked(c, progress, _again=False)
                out.rebuilt, out.reason, out.prev_last_seq = True, "compacting", res.prev_last_seq
                return out
        plan: list[tuple[Path, os.stat_result, int]] = []
        cur = next((i for i, (_, s) in enumerate(files) if s.st_ino == st["ino"]), None)
        reason = ""
        if cur is not None:
            path, s = files[cur]
            if s.st_size >= (st["offset"] or 0) and self._still_there(path, st):
                plan = [(path, s, st["offset"] or 0)] + [(f, s2, 0) for f, s2 in files[cur + 1:]]
            elif s.st_size < (st["offset"] or 0) and cur == len(files) - 1 and len(files) == 1:
                reason = f"{path.name} was truncated"
            else:
                cur = None  # rewritten, or another file that got our old inode: find our place by seq
        if cur is None and not reason:
            if st["ino"] is not None and files and last_seq >= 0:
                rec, _ = last_record(files[-1][0])
                if rec is not None and rec["seq"] < last_seq:
                    reason = "the log started over" if len(files) > 1 or rec["seq"] < last_seq // 2 + 1 \
                        else f"{files[-1][0].name} was truncated or rewritten"
                elif self._last_changed(c, files, st):
                    reason = "records already indexed were rewritten"
            for f, s in files:  # first run, or our file vanished: skip files with nothing new
                if last_seq >= 0:
                    rec, _ = last_record(f)
                    if rec is None or rec["seq"] <= last_seq:
                        continue
                plan.append((f, s, 0))
        if reason and _again:
            self._reset(c)
            out = self._catch_up_locked(c, progress, _again=False)
            out.rebuilt, out.reason, out.prev_last_seq = True, reason, res.prev_last_seq
            return out
        bulk = last_seq < 0 and sum(s.st_size for _, s, _o in plan) > 32 << 20
        if bulk:
            self._drop_indexes(c)
        try:
            for path, s, start in plan:
                res.added += self._index_file(c, path, s, start, res, progress)
                if self._stop is not None and self._stop():
                    break
        finally:
            if bulk:
                self._create_indexes(c)
        return res

    def _index_file(self, c: sqlite3.Connection, path: Path, s: os.stat_result, start: int, res: CatchUp,
                    progress: Callable[[int], None] | None, batch: int = 20_000) -> int:
        fh = self._open_same(path, s.st_ino)
        if fh is None:  # rotated away and deleted meanwhile
            return 0
        added = 0
        rows: list[tuple] = []
        texts: list[tuple] = []
        last: tuple[int, str, int, int, bytes] | None = None  # seq, hash, off, len, line of the newest

        def flush(end: int) -> None:
            nonlocal rows, texts
            c.execute("BEGIN IMMEDIATE")
            inserted = 0
            if rows:
                before = c.total_changes
                c.executemany("INSERT OR IGNORE INTO records VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                inserted = c.total_changes - before
                c.executemany("INSERT INTO fts(rowid, body) VALUES(?, ?)", texts)
            kv: dict[str, Any] = {"ino": s.st_ino, "offset": end, "last_seq": res.last_seq}
            if rows:
                kv["rows"] = int(self._meta(c, "rows") or 0) + inserted
            if last is not None:
                kv.update(last_hash=last[1], last_off=last[2], last_len=last[3], last_digest=_digest(last[4]))
            self._set_meta(c, **kv)
            c.execute("COMMIT")
            if rows and progress is not None:
                progress(res.added + added)
            rows, texts = [], []

        with fh:
            fh.seek(start)
            pos = start            # file offset of buf[0]
            buf = b""
            while True:
                chunk = fh.read(8 << 20)
                if not chunk:
                    break
                buf += chunk
                cut = buf.rfind(b"\n")
                if cut < 0:
                    if len(buf) > MAX_LINE:  # an endless line: skip what we have
                        pos, buf = pos + len(buf), b""
                    continue
                off = pos
                for line in buf[:cut].split(b"\n"):
                    n = len(line)
                    rec = parse_record(line) if n <= MAX_LINE else None
                    if rec is not None and rec["seq"] > res.last_seq:
                        seq = rec["seq"]
                        rows.append(_row(rec, s.st_ino, off, n))
                        texts.append((seq, _text(rec)))
                        res.last_seq = seq
                        last = (seq, rec["hash"], off, n, line)
                        added += 1
                    off += n + 1
                pos, buf = off, buf[cut + 1:]
                if len(rows) >= batch:
                    flush(pos)
                    if self._stop is not None and self._stop():
                        return added
        flush(pos)
        return added

    # ---------------------------------------------------------------- reading
    def _query(self, text: str | SearchQuery, agent: Any, tool: Any, decision: Any, level: Any,
               since: Any, until: Any) -> SearchQuery:
        q = text if isinstance(text, SearchQuery) else parse_search(text or "")
        for name, val in (("agent", agent), ("tool", tool), ("decision", decision), ("level", level)):
            if val:
                getattr(q, name).extend([val.lower()] if isinstance(val, str) else [str(v).lower() for v in val])
        if since is not None:
            q.since = _when(since)
        if until is not None:
            q.until = _when(until, end=True)
        return q

    def _sql(self, q: SearchQuery, select: str, after_seq: int | None,
             upto_seq: int | None = None) -> tuple[str, list[Any], bool]:
        conds, params = where_clause(q)
        if upto_seq is not None:  # "+": a bound on the snapshot, not a reason to scan by seq
            conds.append("+r.seq <= ?")
            params.append(upto_seq)
        expr = fts_expression(q.words)
        if q.words and not expr:  # only words that can match nothing (e.g. `*` or `)`)
            conds.append("0")
        if after_seq is not None:
            conds.append("r.seq > ?")
            params.append(after_seq)
        if expr:
            sql = f"SELECT {select} FROM fts JOIN records r ON r.seq = fts.rowid WHERE fts MATCH ?"
            params.insert(0, expr)
            if after_seq is not None:
                sql += " AND fts.rowid > ?"
                params.insert(1, after_seq)
            if conds:
                sql += " AND " + " AND ".join(conds)
        else:
            sql = f"SELECT {select} FROM records r" + (" WHERE " + " AND ".join(conds) if conds else "")
        return sql, params, bool(expr)

    def search(self, text: str | SearchQuery = "", agent: Any = None, tool: Any = None, decision: Any = None,
               level: Any = None, since: Any = None, until: Any = None, order: str = "desc", offset: int = 0,
               limit: int = 200, sort: str = "seq") -> list[dict[str, Any]]:
        """Matching rows (the indexed columns, not the whole record), sorted by ``sort`` then seq."""
        if order not in ("asc", "desc"):
            raise ValueError("order must be 'asc' or 'desc'")
        if sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}")
        q = self._query(text, agent, tool, decision, level, since, until)
        sql, params, fts = self._sql(q, _SQL_COLS, None)
        d = order.upper()
        key = "fts.rowid" if fts and sort == "seq" else SORT_KEYS[sort]
        sql += f" ORDER BY {key} {d}" + ("" if sort == "seq" else f", r.seq {d}") + " LIMIT ? OFFSET ?"
        params += [max(0, int(limit)), max(0, int(offset))]
        return [dict(zip(_ROW_COLS, r)) for r in self._conn().execute(sql, params)]

    def count(self, text: str | SearchQuery = "", agent: Any = None, tool: Any = None, decision: Any = None,
              level: Any = None, since: Any = None, until: Any = None, after_seq: int | None = None,
              upto_seq: int | None = None) -> int:
        """How many rows ``search`` would give without a limit (only ``after_seq < seq <= upto_seq``
        when given)."""
        q = self._query(text, agent, tool, decision, level, since, until)
        if q.empty and after_seq is None and upto_seq is None:
            return self.size()
        sql, params, _ = self._sql(q, "count(*)", after_seq, upto_seq)
        return int(self._conn().execute(sql, params).fetchone()[0])

    def size(self) -> int:
        """Records in the index (kept in the meta table: no scan)."""
        return int(self._meta(self._conn(), "rows") or 0)

    def last_seq(self) -> int:
        row = self._conn().execute("SELECT max(seq) FROM records").fetchone()
        return -1 if row[0] is None else int(row[0])

    def get(self, seq: int) -> dict[str, Any] | None:
        """The full record, read from the JSONL (None if it is no longer in any log file)."""
        return next(iter(self.get_many([seq])), None)

    def get_many(self, seqs: list[int]) -> list[dict[str, Any]]:
        """Full records for ``seqs`` (in that order; missing ones left out), each file opened once."""
        c = self._conn()
        where: dict[int, tuple[int, int, int]] = {}
        for i in range(0, len(seqs), 500):
            part = [int(x) for x in seqs[i:i + 500]]
            marks = ",".join("?" * len(part))
            for seq, ino, off, length in c.execute(
                    f"SELECT seq, ino, off, len FROM records WHERE seq IN ({marks})", part):
                where[seq] = (ino, off, length)
        if not where:
            return []
        by_ino = {s.st_ino: f for f, s in self._files()}
        handles: dict[int, Any] = {}
        out: list[dict[str, Any]] = []
        try:
            for seq in seqs:
                loc = where.get(int(seq))
                if loc is None or loc[0] not in by_ino:
                    continue
                ino, off, length = loc
                fh = handles.get(ino)
                if fh is None:
                    try:
                        fh = handles[ino] = open(by_ino[ino], "rb")
                    except OSError:
                        continue
                fh.seek(off)
                rec = parse_record(fh.read(length))
                if rec is not None and rec["seq"] == seq:  # never another record at a reused place
                    out.append(rec)
        finally:
            for fh in handles.values():
                fh.close()
        return out

    def iter_records(self, text: str | SearchQuery = "", order: str = "asc", sort: str = "seq",
                     page: int = 5000, **filters: Any) -> Iterator[dict[str, Any]]:
        """Full records of a whole search (for export), fetched a page at a time."""
        offset = 0
        while True:
            rows = self.search(text, order=order, offset=offset, limit=page, sort=sort, **filters)
            yield from self.get_many([r["seq"] for r in rows])
            if len(rows) < page:
                return
            offset += page


def _when(v: Any, end: bool = False) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, _dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc)).timestamp()
    if isinstance(v, str):
        return parse_time(v, end=end)
    raise TypeError(f"not a time: {v!r}")
