"""Crash-safe private file writes: temp file in the same dir, fsync, rename, fsync the dir.

A crash at any point leaves either the old file or the new one, never a torn mix; the file is
created 0600 (no window where it is readable by others).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_private", "write_atomic"]


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, mode 0600 (keys, policy, settings, baselines)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, data, mode=0o600)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` in one rename; the new file gets ``mode`` (the parent must exist)."""
    path = Path(path)
    # mkstemp: O_EXCL, mode 0600, a unique name, so concurrent writers never share a temp file
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
