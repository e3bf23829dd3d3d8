"""Reading the audit log: every record, the last few, follow as it grows, search.

Readers never take the writer's lock: a line is only ever appended whole (or, after a crash,
left partial), so readers simply consume complete lines and skip anything unparseable.
``verify`` (``audit_verify``) is the one that reports damage.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable, Iterator

from ._audit_files import (MAX_LINE, chain_files, default_path, first_seq, iter_lines, parse_record,
                           reverse_lines, rotated_files)

__all__ = ["iter_records", "tail", "follow", "search", "matches"]


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    return default_path() if path is None else Path(path)


def iter_records(path: str | os.PathLike[str] | None = None, *, include_rotated: bool = True) -> Iterator[dict]:
    """Every readable record, oldest first (rotated files first). Streams; skips broken lines
    (use ``verify`` to learn about them)."""
    for f in chain_files(_resolve(path), include_rotated):
        try:
            fh = open(f, "rb")
        except FileNotFoundError:  # rotated away meanwhile
            continue
        with fh:
            for _, raw, complete in iter_lines(fh):
                rec = parse_record(raw) if complete else None
                if rec is not None:
                    yield rec


def tail(path: str | os.PathLike[str] | None = None, n: int = 10) -> list[dict]:
    """The last ``n`` records, oldest first, looking into rotated files when the current one is short."""
    out: list[dict] = []
    p = _resolve(path)
    for f in reversed(chain_files(p)):
        if len(out) >= n:
            break
        try:
            fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            for line in reverse_lines(fd, os.fstat(fd).st_size):
                rec = parse_record(line)
                if rec is not None:
                    out.append(rec)
                    if len(out) >= n:
                        break
        finally:
            os.close(fd)
    out.reverse()
    return out


def _after_last_newline(fd: int, size: int) -> int:
    """Offset just past the last newline (0 if none within MAX_LINE bytes of the end: start there
    and a very long line in progress is dropped rather than loaded)."""
    pos = size
    while pos > 0 and size - pos <= MAX_LINE:
        step = min(65536, pos)
        block = os.pread(fd, step, pos - step)
        i = block.rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0 if pos == 0 else size


def _missed(p: Path, after: int, before: int) -> Iterator[dict]:
    """Records with ``after < seq < before`` from the rotated files: what rotated past a follower
    between two polls. Rotated files never change, so reading them needs no care; only the
    newest few are opened (we stop at the first whose first seq is already seen)."""
    needed: list[Path] = []
    for f in reversed(rotated_files(p)):  # newest backup first
        needed.append(f)
        first = first_seq(f)
        if first is not None and first <= after + 1:
            break
    for f in reversed(needed):
        try:
            fh = open(f, "rb")
        except FileNotFoundError:
            continue
        with fh:
            for _, raw, complete in iter_lines(fh):
                rec = parse_record(raw) if complete else None
                if rec is not None and after < rec["seq"] < before:
                    yield rec


def follow(path: str | os.PathLike[str] | None = None, *, n: int = 10, poll: float = 0.5,
           stop: Callable[[], bool] | None = None) -> Iterator[dict]:
    """The last ``n`` records, then each new one as it is appended (``tail -f``), across rotations.

    Polls every ``poll`` seconds; returns when ``stop()`` says so. A record being written while we
    look is picked up whole on the next poll (we only ever consume complete lines). Records that
    were rotated away between two polls are fetched from the backups by seq, so none is skipped.
    """
    p = _resolve(path)
    while not p.exists():
        if stop is not None and stop():
            return
        time.sleep(poll)
    fh = open(p, "rb")
    size = os.fstat(fh.fileno()).st_size
    # Start right after the last newline so a line in progress is read whole later.
    start = _after_last_newline(fh.fileno(), size)
    last: int | None = None
    if n > 0:
        recs: deque[dict] = deque(maxlen=n)
        for line in reverse_lines(fh.fileno(), start):
            rec = parse_record(line)
            if rec is not None:
                recs.appendleft(rec)
                if len(recs) >= n:
                    break
        if len(recs) < n:
            backup = p.with_name(p.name + ".1")
            recs = deque(tail(backup, n - len(recs)) + list(recs)) if backup.exists() else recs
        for rec in recs:
            last = rec["seq"]
            yield rec
    else:
        prev = tail(p, 1)
        last = prev[0]["seq"] if prev else None
    fh.seek(start)
    buf, fresh = b"", False  # fresh: just switched files, check for records rotated past us
    try:
        while True:
            chunk = fh.read(1 << 20)
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    rec = parse_record(line)
                    if rec is None:
                        continue
                    if fresh and last is not None and rec["seq"] > last + 1:
                        for old in _missed(p, last, rec["seq"]):
                            yield old
                    fresh = False
                    last = rec["seq"]
                    yield rec
                if len(buf) > MAX_LINE:
                    buf = b""
                continue
            if stop is not None and stop():
                return
            try:
                cur = os.stat(p)
            except FileNotFoundError:
                cur = None
            st = os.fstat(fh.fileno())
            if cur is not None and (cur.st_ino, cur.st_dev) != (st.st_ino, st.st_dev):
                rest = fh.read()  # rotated: finish the old file, then switch
                if rest:
                    fh.seek(-len(rest), os.SEEK_CUR)
                    continue
                try:
                    new = open(p, "rb")
                except FileNotFoundError:
                    continue
                fh.close()
                fh, buf, fresh = new, b"", True
                continue
            if st.st_size < fh.tell():  # truncated in place: start over
                fh.seek(0)
                buf = b""
            time.sleep(poll)
    finally:
        fh.close()


# ----------------------------------------------------------------- search
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: _dt.datetime | None = None) -> _dt.datetime:
    """``10m`` / ``2h`` / ``7d`` (ago) or an ISO-8601 time (UTC when no zone). ValueError otherwise."""
    t = text.strip()
    if len(t) >= 2 and t[-1].lower() in _UNITS and t[:-1].isdigit() and len(t) <= 12:
        now = now or _dt.datetime.now(_dt.timezone.utc)
        return now - _dt.timedelta(seconds=int(t[:-1]) * _UNITS[t[-1].lower()])
    ts = _parse_ts(t)
    if ts is None:
        raise ValueError(f"not a time: {text!r} (use e.g. 30m, 2h, 7d or 2026-01-31T12:00:00Z)")
    return ts


def _parse_ts(t: Any) -> _dt.datetime | None:
    if not isinstance(t, str) or len(t) > 64:
        return None
    try:
        ts = _dt.datetime.fromisoformat(t.replace("Z", "+00:00") if t.endswith("Z") else t)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=_dt.timezone.utc)


def _values(obj: Any, out: list[str], budget: list[int]) -> None:
    """Every string/number in ``obj`` (keys too), iteratively; stops after ``budget`` items."""
    stack = [obj]
    while stack and budget[0] > 0:
        o = stack.pop()
        budget[0] -= 1
        if isinstance(o, dict):
            out.extend(k for k in o if isinstance(k, str))
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
        elif o is not None:
            out.append(str(o))


def matches(rec: dict, query: str = "", *, decisions: Iterable[str] = (), tools: Iterable[str] = (),
            agents: Iterable[str] = (), since: _dt.datetime | None = None) -> bool:
    """Whether one record passes the filters. ``query`` is a case-insensitive substring of any
    value (tool input, reason, findings...); tools/agents are shell globs (``write_*``)."""
    from fnmatch import fnmatchcase

    decisions, tools, agents = list(decisions), list(tools), list(agents)
    if decisions and rec.get("decision") not in decisions:
        return False
    if tools and not any(fnmatchcase(str(rec.get("tool_name") or ""), g) for g in tools):
        return False
    if agents and not any(fnmatchcase(str(rec.get("agent_name") or ""), g) for g in agents):
        return False
    if since is not None:
        ts = _parse_ts(rec.get("timestamp"))
        if ts is None or ts < since:
            return False
    if query:
        q = query.casefold()
        parts: list[str] = []
        _values({k: v for k, v in rec.items() if k not in ("hash", "prev_hash")}, parts, [100_000])
        return any(q in part.casefold() for part in parts)
    return True


def search(query: str = "", path: str | os.PathLike[str] | None = None, *, decisions: Iterable[str] = (),
           tools: Iterable[str] = (), agents: Iterable[str] = (), since: _dt.datetime | None = None,
           limit: int | None = None) -> Iterator[dict]:
    """Records (oldest first, rotated files included) that pass ``matches``; at most ``limit``."""
    decisions, tools, agents = list(decisions), list(tools), list(agents)
    found = 0
    for rec in iter_records(path):
        if matches(rec, query, decisions=decisions, tools=tools, agents=agents, since=since):
            yield rec
            found += 1
            if limit is not None and found >= limit:
                return
