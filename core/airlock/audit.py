"""The tamper-evident audit log: one hash-chained JSON line per decision.

File format (``audit.jsonl``, one record per line)::

    <canonical JSON of the record without "hash", minus its final "}">,"hash":"<hex>"}

where canonical = ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``,
``hash = sha256(canonical.encode("utf-8"))`` and each record's ``prev_hash`` is the ``hash`` of the
record before it (``"0" * 64`` for seq 0). Any edit, deletion or reordering breaks the chain; a
small head file (``audit.jsonl.head``) remembers the last seq/hash and the oldest kept seq, so
cutting records off either end is caught too. Without a key this is tamper-*evident* against
edits by hand or by naive tools, not a signature: someone who can write the files can rebuild the
whole chain.

Writers: ``AuditLog`` serialises appends with a thread lock plus ``flock`` on a sidecar
``audit.jsonl.lock``, so several processes can share one log. Each line goes out in one
``os.write`` of an ``O_APPEND`` descriptor before ``append`` returns. Files rotate by size
(``audit.jsonl.1`` is the newest backup) and the chain runs on across them.

Values: anything in a record is made JSON-safe (bytes, sets, NaN, objects -> short reprs), huge
values are truncated with a marker and a record is capped at ``MAX_RECORD_BYTES``; every string
goes through the redactor (``set_redactor``) before it touches the disk. A record is never dropped
because of its content (see ``_audit_format``).

Reading lives in ``audit_read`` (iter_records, tail, follow, search) and checking in
``audit_verify`` (verify, VerifyReport); both are re-exported here.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Callable

from . import _audit_files as _files
from . import _audit_format as _fmt
from . import _dirs
from ._audit_files import default_path
from ._audit_format import GENESIS_HASH, MAX_RECORD_BYTES, canonical, set_redactor
from .audit_read import follow, iter_records, search, tail
from .audit_verify import VerifyReport, verify
from .events import AuditRecord

__all__ = [
    "AuditLog",
    "AuditError",
    "VerifyReport",
    "GENESIS_HASH",
    "MAX_RECORD_BYTES",
    "canonical",
    "default_path",
    "set_redactor",
    "iter_records",
    "tail",
    "follow",
    "search",
    "verify",
]


class AuditError(OSError):
    """The audit log could not be written. The engine turns this into a block (fail secure)."""


# ----------------------------------------------------------------- the writer
class AuditLog:
    """Appends hash-chained records to one log. Thread-safe and safe across processes.

    ``max_bytes``/``backups``: rotate to ``path.1`` .. ``path.<backups>`` when the file would grow
    past ``max_bytes``. ``redactor``: a ``str -> str`` applied to every string (default: the
    module-wide one, see ``set_redactor``). ``fsync``: make each append durable before returning
    (much slower; without it an append survives a process crash but not a power cut).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_bytes: int = 50 * 1024 * 1024,
                 backups: int = 10, redactor: Callable[[str], str] | None = None, fsync: bool = False) -> None:
        if path is None:
            _dirs.ensure_private_dir(_dirs.state_dir())
            self.path = default_path()
        else:
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if max_bytes < 1024 or backups < 0:
            raise ValueError("max_bytes must be >= 1024 and backups >= 0")
        self.max_bytes, self.backups, self.fsync = int(max_bytes), int(backups), bool(fsync)
        self._redactor = redactor
        self._lock = threading.Lock()
        self._pid = -1
        self._log_fd = self._lock_fd = self._head_fd = -1
        self._sig: tuple[int, int] | None = None  # (inode, size) right after our last write
        self._seq, self._hash, self._first = -1, GENESIS_HASH, 0
        self._ends_nl = True
        with self._lock:
            self._open()
            self._locked(lambda: self._sync(os.fstat(self._log_fd)))

    # -- lifecycle
    def _open(self) -> None:
        self._close_fds()
        flags = os.O_CLOEXEC | os.O_CREAT
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"), flags | os.O_RDWR | nofollow, 0o600)
        self._head_fd = os.open(_files.head_path(self.path), flags | os.O_RDWR | nofollow, 0o600)
        self._log_fd = os.open(self.path, flags | os.O_WRONLY | os.O_APPEND | nofollow, 0o600)
        self._pid = os.getpid()
        self._sig = None

    def _close_fds(self) -> None:
        for name in ("_log_fd", "_lock_fd", "_head_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)

    def close(self) -> None:
        with self._lock:
            self._close_fds()

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, seq={self._seq})"

    # -- appending
    def append(self, record: AuditRecord) -> AuditRecord:
        """Write ``record`` (redacted, made JSON-safe, chained) and return what was written.

        The caller's object is not modified. Raises ``AuditError`` if the line could not be
        written; the record is then not part of the chain.
        """
        if not isinstance(record, AuditRecord):
            raise TypeError(f"append() takes an AuditRecord, not {type(record).__name__}")
        try:
            body = _fmt.prepare(record, _fmt.safe_text(self._redactor or _fmt.current_redactor()))
        except Exception as exc:  # never lose a decision because its record is odd: write less of it
            body = _fmt.fallback(record, exc)
        if os.getpid() != self._pid:  # a forked child must not share the parent's flock
            self._lock = threading.Lock()
        with self._lock:
            try:
                if os.getpid() != self._pid or self._log_fd < 0:
                    self._open()
                return self._locked(lambda: self._append_locked(body))
            except OSError as exc:
                self._sig = None  # re-read the file's state next time
                raise AuditError(exc.errno or errno.EIO, f"audit log {self.path}: {exc.strerror or exc}") from exc

    def _locked(self, fn: Callable[[], Any]) -> Any:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            return fn()
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _append_locked(self, body: dict[str, Any]) -> AuditRecord:
        st = os.fstat(self._log_fd)
        try:
            cur = os.stat(self.path)
        except FileNotFoundError:
            cur = None
        if cur is None or cur.st_ino != st.st_ino or cur.st_dev != st.st_dev:  # rotated or removed by others
            os.close(self._log_fd)
            self._log_fd = os.open(self.path, os.O_CLOEXEC | os.O_CREAT | os.O_WRONLY | os.O_APPEND
                                   | getattr(os, "O_NOFOLLOW", 0), 0o600)
            st = os.fstat(self._log_fd)
        if (st.st_ino, st.st_size) != self._sig:
            self._sync(st)
        seq = self._seq + 1
        body["seq"], body["prev_hash"] = seq, self._hash
        canon = canonical(body)
        digest = hashlib.sha256(canon.encode("utf-8")).hexdigest()
        data = (canon[:-1] + ',"hash":"' + digest + '"}\n').encode("utf-8")
        size = st.st_size
        if size > 0 and size + len(data) > self.max_bytes:
            self._rotate()
            st, size = os.fstat(self._log_fd), 0
            self._ends_nl = True
        if not self._ends_nl:  # a crash left a partial line: never glue a record onto it
            data = b"\n" + data
        if seq == 0 or size == 0 and not _files.rotated_files(self.path):
            self._first = seq
        written = os.write(self._log_fd, data)
        while written < len(data):  # only on odd filesystems; still under the lock
            written += os.write(self._log_fd, data[written:])
        if self.fsync:
            os.fsync(self._log_fd)
        self._seq, self._hash, self._ends_nl = seq, digest, True
        self._sig = (st.st_ino, size + len(data))
        self._write_head(st.st_ino, size + len(data))
        body["hash"] = digest
        return AuditRecord.from_dict(body)

    def _write_head(self, ino: int, size: int) -> None:
        # All ints and a hex digest: formatting by hand is exact JSON and 4x cheaper than json.dumps.
        head = (f'{{"v":1,"seq":{int(self._seq)},"hash":"{self._hash}","first_seq":{int(self._first)},'
                f'"ino":{int(ino)},"size":{int(size)}}}')
        os.pwrite(self._head_fd, head.ljust(_files.HEAD_WIDTH - 1).encode("ascii") + b"\n", 0)
        if self.fsync:
            os.fdatasync(self._head_fd)

    def _sync(self, st: os.stat_result) -> None:
        """Learn the chain head after another process wrote (or at start). Fast path: the head
        file describes exactly this file state. Slow path: read the last complete record."""
        head = _files.parse_head(os.pread(self._head_fd, 4096, 0))
        if head and head.get("ino") == st.st_ino and head.get("size") == st.st_size:
            self._seq, self._hash = head["seq"], head["hash"]
            self._first, self._ends_nl = int(head.get("first_seq") or 0), True
        else:
            rec, self._ends_nl = _files.last_record(self.path)
            if rec is None:
                for older in reversed(_files.rotated_files(self.path)):  # newest backup first
                    rec, _ = _files.last_record(older)
                    if rec is not None:
                        break
            self._seq, self._hash = (rec["seq"], rec["hash"]) if rec else (-1, GENESIS_HASH)
            if head and head["seq"] > self._seq:
                # Records vanished from the end. Chain on from the head so the gap stays visible.
                self._seq, self._hash = head["seq"], head["hash"]
            files = _files.chain_files(self.path)
            first = _files.first_seq(files[0]) if files else None
            self._first = first if first is not None else self._seq + 1
        self._sig = (st.st_ino, st.st_size)

    def _rotate(self) -> None:
        """audit.jsonl -> .1 -> .2 ...; the oldest beyond ``backups`` is deleted."""
        for old in _files.rotated_files(self.path):
            n = int(old.name.rsplit(".", 1)[1])
            if n >= self.backups:
                os.unlink(old)
        for n in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{n}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{n + 1}"))
        if self.backups:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        else:
            os.unlink(self.path)
        os.close(self._log_fd)
        self._log_fd = os.open(self.path, os.O_CLOEXEC | os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        if self.fsync:
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        files = _files.rotated_files(self.path)
        first = _files.first_seq(files[0]) if files else None
        self._first = first if first is not None else self._seq + 1
