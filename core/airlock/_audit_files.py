"""Reading the audit files: the head file, rotated backups, line splitting (forwards and backwards).

Shared by the writer (to learn the chain head), the readers (tail/follow/search) and the
verifier. Every reader is bounded: lines longer than ``MAX_LINE`` are skipped, never loaded.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from . import _dirs
from ._audit_format import MAX_RECORD_BYTES

HEAD_WIDTH = 256          # the head file is one fixed-width line, rewritten in place with pwrite
MAX_LINE = 4 * MAX_RECORD_BYTES  # readers skip longer lines instead of loading them
_HEX64 = re.compile(r"[0-9a-f]{64}")


def default_path() -> Path:
    """``$XDG_STATE_HOME/airlock/audit.jsonl``, resolved now (tests redirect XDG)."""
    return _dirs.state_dir() / "audit.jsonl"


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def parse_head(data: bytes) -> dict[str, Any] | None:
    try:
        h = json.loads(data.decode("utf-8").strip() or "null")
    except (UnicodeDecodeError, ValueError):
        return None
    if not (isinstance(h, dict) and type(h.get("seq")) is int and isinstance(h.get("hash"), str)
            and _HEX64.fullmatch(h["hash"]) and type(h.get("first_seq", 0)) is int):
        return None
    return h


def read_head(path: Path) -> dict[str, Any] | None | str:
    """The head file's content; None when absent; the string "unreadable" when it is garbage."""
    try:
        with open(head_path(path), "rb") as f:
            data = f.read(4096)
    except FileNotFoundError:
        return None
    except OSError:
        return "unreadable"
    if not data.strip():  # created by a writer that has not appended yet
        return None
    return parse_head(data) or "unreadable"


# ----------------------------------------------------------------- reading helpers
def rotated_files(path: Path) -> list[Path]:
    """Backups of ``path`` (``path.1`` newest ... ``path.N`` oldest), oldest first."""
    pat = re.compile(re.escape(path.name) + r"\.([0-9]{1,6})$")
    found: list[tuple[int, Path]] = []
    try:
        for entry in os.scandir(path.parent):
            m = pat.match(entry.name)
            if m:
                found.append((int(m.group(1)), Path(entry.path)))
    except FileNotFoundError:
        return []
    return [p for _, p in sorted(found, reverse=True)]


def chain_files(path: Path, include_rotated: bool = True) -> list[Path]:
    files = rotated_files(path) if include_rotated else []
    if path.exists():
        files.append(path)
    return files


def iter_lines(f: Any) -> Iterator[tuple[int, bytes | None, bool]]:
    """(line number, bytes without newline or None if longer than MAX_LINE, ended with newline)."""
    n = 0
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        n += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of an oversized line
                line = f.readline(1 << 20)
            yield n, None, bool(line)
            continue
        if line.endswith(b"\n"):
            yield n, line[:-1], True
        else:
            yield n, line, False


def parse_record(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        rec = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if (isinstance(rec, dict) and type(rec.get("seq")) is int and isinstance(rec.get("prev_hash"), str)
            and isinstance(rec.get("hash"), str)):
        return rec
    return None


def reverse_lines(fd: int, end: int) -> Iterator[bytes]:
    """Complete lines of the first ``end`` bytes of ``fd``, last first (a trailing partial line is
    skipped). Reads 64 kB blocks backwards; lines longer than MAX_LINE are skipped."""
    pos, buf, first = end, b"", True
    skipping = False
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        parts = buf.split(b"\n")
        buf = parts[0]
        tail_parts = parts[1:]
        if first:
            first = False
            if tail_parts:
                tail_parts.pop()  # bytes after the last newline: empty or a partial line
            else:
                buf = b""  # no newline yet in this block: the partial tail continues backwards
                skipping = True
                continue
        for i, line in enumerate(reversed(tail_parts)):
            if skipping and i == 0:
                skipping = False
                continue
            if line:
                yield line
        if len(buf) > MAX_LINE:
            buf, skipping = b"", True
    if buf and not skipping:
        yield buf


def last_record(path: Path) -> tuple[dict[str, Any] | None, bool]:
    """The last complete, parseable record of one file, and whether the file ends with a newline."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, True
    try:
        size = os.fstat(fd).st_size
        ends_nl = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
        for line in reverse_lines(fd, size):
            rec = parse_record(line)
            if rec is not None:
                return rec, ends_nl
        return None, ends_nl
    finally:
        os.close(fd)


def first_seq(path: Path) -> int | None:
    try:
        with open(path, "rb") as f:
            for _, raw, complete in iter_lines(f):
                rec = parse_record(raw) if complete else None
                if rec is not None:
                    return int(rec["seq"])
    except OSError:
        return None
    return None
