"""Checking the audit chain: is every record as written, in order, with nothing cut off?

``verify`` streams every file of the log (rotated backups oldest first, then the live file) and
stops at the first bad record, naming its file, line, seq and what happened to it:

- ``edited``: a record's bytes no longer hash to its ``hash`` (or a rebuilt record no longer
  links to its neighbour, or a line is not a record at all);
- ``deleted``: a seq is missing and does not turn up later (records removed, or older files
  removed while the head file says they should still be there);
- ``reordered``: a seq is missing here but turns up later, or goes backwards / repeats;
- ``truncated``: the head file says the chain went further than the log does;
- ``inserted``: records after the one the head file names (appended by hand).

A crash mid-write loses at most the line being written: it is left without a newline (or, if a
later append came after it, as a fragment of a record). Such a fragment is *not* tampering: the
head file is only advanced after a full line is written, so it still names the last whole record,
and the caller of that append never got a decision back. ``verify`` therefore keeps ``ok`` True,
sets ``partial_tail`` and adds a warning that says it is a crash artefact; ``airlock audit verify``
exits 0 and prints that warning. Cutting a *whole* record off the end (or half of one that the
head file already names) is ``truncated`` and fails.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ._audit_files import chain_files, default_path, iter_lines, parse_record, read_head
from ._audit_format import GENESIS_HASH, canonical

__all__ = ["VerifyReport", "verify"]

_HASH_SUFFIX = re.compile(rb',"hash":"([0-9a-f]{64})"}\r?$')
# Our lines are canonical JSON with sorted keys: every record starts with its first key, "agent".
_RECORD_START = b'{"agent":'


@dataclass
class VerifyReport:
    """What ``verify`` found. ``ok`` is False only for tampering; then ``kind`` is one of edited /
    deleted / reordered / truncated / inserted and ``bad_file``/``first_bad`` (line)/``bad_seq``
    name the first bad record. A crash artefact leaves ``ok`` True with ``partial_tail`` set."""

    ok: bool
    records: int
    files: list[str]
    first_bad: int | None = None
    bad_file: str | None = None
    bad_seq: int | None = None
    kind: str = ""
    problem: str = ""
    partial_tail: bool = False
    warnings: list[str] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):  # a second "decision" key would fool readers that keep the first one
        raise _DuplicateKey("duplicate key")
    return d


def _line_hash_ok(raw: bytes, rec: dict[str, Any]) -> bool:
    """Fast path: our own lines are canonical, so hashing the bytes before the hash member is
    enough. Anything else (a line reformatted by a tool) is checked the slow, definitional way,
    refusing duplicate keys (two parsers could read two different records from one line)."""
    m = _HASH_SUFFIX.search(raw)
    if m and m.group(1).decode() == rec["hash"]:
        if hashlib.sha256(raw[: m.start()] + b"}").hexdigest() == rec["hash"]:
            return True
    try:
        strict = json.loads(raw, object_pairs_hook=_no_duplicates)
        body = {k: v for k, v in strict.items() if k != "hash"}
        return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest() == rec["hash"]
    except (ValueError, UnicodeEncodeError, RecursionError):
        return False


def _is_fragment(raw: bytes) -> bool:
    """A record cut short by a crash (and later followed by a newline): starts like one of ours
    and is not valid JSON. Anything else on a line of its own is not something we wrote."""
    if not raw.startswith(_RECORD_START):
        return False
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return True
    return False


def _seq_appears_later(handles: list[Any], fi: int, lo: int, hi: int) -> bool:
    """Whether any seq in [lo, hi) occurs after the current position of ``handles[fi]`` or in a
    later file. Only on the failure path: it consumes the rest of the walk's handles."""
    for j in range(fi, len(handles)):
        fh = handles[j]
        if j > fi:
            fh.seek(0)
        for _, raw, complete in iter_lines(fh):
            rec = parse_record(raw) if complete else None
            if rec is not None and lo <= rec["seq"] < hi:
                return True
    return False


class _Upto:
    """A file read only up to the size it had in the snapshot (appends after it are not ours)."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.size = fh, size

    def readline(self, limit: int = -1) -> bytes:
        left = self.size - self.fh.tell()
        if left <= 0:
            return b""
        return self.fh.readline(left if limit < 0 else min(limit, left))

    def seek(self, pos: int) -> int:
        return self.fh.seek(pos)


def _snapshot(p: Path) -> tuple[list[Path], list[Any], dict[str, Any] | None | str, str]:
    """Open every file of the log and read the head file as one consistent state: under a shared
    flock on the writers' lock file, so no append or rotation is half done. The walk then reads
    these descriptors (renames by a later rotation do not matter) and the live file only up to
    its size now, so verifying a log that is being written never reports a false break."""
    note = ""
    lock_fd = -1
    try:
        lock_fd = os.open(p.with_name(p.name + ".lock"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        pass  # a copied log, or no writer ever ran: nothing to coordinate with
    try:
        if lock_fd >= 0:
            deadline = time.monotonic() + 5.0
            while True:
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        note = "a writer held the log lock for 5 s: verified without a consistent snapshot"
                        break
                    time.sleep(0.002)
        files = chain_files(p)
        handles: list[Any] = []
        for f in files:
            try:
                handles.append(open(f, "rb"))
            except FileNotFoundError:
                handles.append(None)
        kept = [(f, h) for f, h in zip(files, handles) if h is not None]
        files, handles = [f for f, _ in kept], [h for _, h in kept]
        if handles and files[-1] == p:
            handles[-1] = _Upto(handles[-1], os.fstat(handles[-1].fileno()).st_size)
        head = read_head(p)
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)  # releases the flock
    return files, handles, head, note


class _Walk:
    """One pass over the chain; ``fail`` fills the report."""

    def __init__(self, path: Path, files: list[Path], handles: list[Any], head: dict[str, Any] | None | str) -> None:
        self.path, self.files, self.handles = path, files, handles
        self.rep = VerifyReport(ok=True, records=0, files=[str(f) for f in files])
        self.head = head
        self.prev: dict[str, Any] | None = None
        self.prev_where = ""
        self.fragment: tuple[Path, int] | None = None  # last crash fragment seen since prev
        self.past_head: tuple[Path, int] | None = None  # where the first record beyond the head file is

    def name(self, f: Path, line: int) -> str:
        return (f"{f.name} " if len(self.files) > 1 else "") + f"line {line}"

    def fail(self, f: Path, line: int, seq: int | None, kind: str, msg: str) -> VerifyReport:
        r = self.rep
        r.ok, r.first_bad, r.bad_file, r.bad_seq, r.kind = False, line, str(f), seq, kind
        r.problem = f"{self.name(f, line)}" + (f" (seq {seq})" if seq is not None else "") + f": {kind}: {msg}"
        return r

    def run(self) -> VerifyReport:
        last_line, last_file = 0, self.files[-1]
        for fi, f in enumerate(self.files):
            last_line = 0
            for lineno, raw, complete in iter_lines(self.handles[fi]):
                last_line = lineno
                bad = self.line(fi, f, lineno, raw, complete)
                if bad is not None:
                    return bad
        return self.finish(last_file, last_line)

    def line(self, fi: int, f: Path, lineno: int, raw: bytes | None, complete: bool) -> VerifyReport | None:
        rep = self.rep
        if not complete:  # only ever the very end of a file
            rep.partial_tail = True
            rep.warnings.append(f"{self.name(f, lineno)} is incomplete: a write cut short by a crash "
                                f"(1 partial record, never acknowledged; not tampering)")
            return None
        rec = parse_record(raw)
        if rec is None:
            if raw is not None and _is_fragment(raw):
                self.fragment = (f, lineno)
                rep.warnings.append(f"{self.name(f, lineno)} is a fragment of a record cut short by an "
                                    f"earlier crash (never acknowledged; not tampering)")
                return None
            what = "longer than any record" if raw is None else ("an empty line" if not raw else "not an audit record")
            return self.fail(f, lineno, None, "edited", f"{what} (edited or inserted by hand)")
        seq = rec["seq"]
        if not _line_hash_ok(raw or b"", rec):
            return self.fail(f, lineno, seq, "edited", "the record does not match its hash")
        prev = self.prev
        if prev is None:
            rep.first_seq = seq
            bad = self.first(f, lineno, rec)
            if bad is not None:
                return bad
        elif seq != prev["seq"] + 1:
            if seq > prev["seq"] + 1:
                if self.fragment is not None and seq == prev["seq"] + 2:
                    ff, fl = self.fragment
                    return self.fail(ff, fl, prev["seq"] + 1, "edited",
                                     "the record was damaged into an unreadable line")
                if _seq_appears_later(self.handles, fi, prev["seq"] + 1, seq):
                    return self.fail(f, lineno, seq, "reordered", f"seq {seq} follows seq {prev['seq']}; "
                                     f"the missing records appear later in the log")
                lo, hi = prev["seq"] + 1, seq - 1
                gone = f"seq {lo}" if lo == hi else f"{hi - lo + 1} records, seq {lo}..{hi}"
                return self.fail(f, lineno, seq, "deleted", f"missing before it: {gone} (after {self.prev_where})")
            return self.fail(f, lineno, seq, "reordered",
                             f"seq {seq} follows seq {prev['seq']} (moved or duplicated)")
        elif rec["prev_hash"] != prev["hash"]:
            return self.fail(f, lineno, seq, "edited", f"prev_hash does not match the record at "
                             f"{self.prev_where} (one of the two was rebuilt or replaced)")
        if self.past_head is None and isinstance(self.head, dict) and seq == self.head["seq"] + 1:
            self.past_head = (f, lineno)
        self.prev, self.fragment = rec, None
        self.prev_where = self.name(f, lineno)
        rep.records += 1
        return None

    def first(self, f: Path, lineno: int, rec: dict[str, Any]) -> VerifyReport | None:
        seq = rec["seq"]
        if seq == 0:
            if rec["prev_hash"] != GENESIS_HASH:
                return self.fail(f, lineno, seq, "edited", "the first record's prev_hash is not the genesis hash")
            return None
        want = self.head.get("first_seq") if isinstance(self.head, dict) else None
        if isinstance(want, int) and seq > want:
            return self.fail(f, lineno, seq, "deleted", f"the log starts at seq {seq} but the head file says the "
                             f"oldest kept record is seq {want} (older records or files deleted)")
        self.rep.warnings.append(f"the chain starts at seq {seq} (older records were rotated away)")
        return None

    def finish(self, last_file: Path, last_line: int) -> VerifyReport:
        rep, head, prev = self.rep, self.head, self.prev
        rep.last_seq = prev["seq"] if prev else None
        if head == "unreadable":
            rep.warnings.append("the head file is unreadable: records cut off the end cannot be detected")
        elif head is None:
            if prev is not None:
                rep.warnings.append("no head file: records cut off the end could not be detected")
        else:
            end = rep.last_seq if rep.last_seq is not None else -1
            if head["seq"] > end:
                ends = f"ends at seq {end}" if prev is not None else "has no records"
                cut = " (the incomplete last line is one of them)" if rep.partial_tail else ""
                return self.fail(last_file, last_line if rep.partial_tail else last_line + 1, end + 1, "truncated",
                                 f"the head file says the chain reaches seq {head['seq']} but the log {ends} "
                                 f"({head['seq'] - end} record(s) cut off the end{cut})")
            if head["seq"] == end and prev is not None and head["hash"] != prev["hash"]:
                return self.fail(last_file, last_line, end, "edited", "the last record does not match the "
                                 "head file (replaced)")
            if head["seq"] == end - 1:
                rep.warnings.append(f"the head file is one record behind (seq {head['seq']}, log at {end}): "
                                    f"a writer stopped between its two writes; the next append repairs it")
            elif head["seq"] < end:
                where_f, where_l = self.past_head or (last_file, last_line)
                return self.fail(where_f, where_l, head["seq"] + 1, "inserted",
                                 f"{end - head['seq']} record(s) after seq {head['seq']}, where the head file "
                                 f"says the chain ends (appended by hand)")
        if rep.partial_tail or any("crash" in w for w in rep.warnings):
            rep.problem = next(w for w in rep.warnings if "crash" in w)
        return rep


def verify(path: str | os.PathLike[str] | None = None) -> VerifyReport:
    """Check the chain through every file (rotated ones first), streaming line by line.

    Raises ``FileNotFoundError`` when there is no log at ``path`` at all. Stops at the first
    tampered record; ``records`` counts the intact records read up to there.
    """
    p = default_path() if path is None else Path(path)
    files, handles, head, note = _snapshot(p)
    try:
        if not files:
            raise FileNotFoundError(errno.ENOENT, "no audit log", str(p))
        rep = _Walk(p, files, handles, head).run()
    finally:
        for h in handles:
            (h.fh if isinstance(h, _Upto) else h).close()
    if note:
        rep.warnings.append(note)
    return rep
