"""File tools: read, list, write, edit, copy, move, delete, download.

Each is a plain function wrapped by ``airlock.guard`` with the reference's risk (writes HIGH,
download MEDIUM, reads NONE). On top of the engine's checks, every tool re-checks protected
paths itself (realpath included), so protection holds even when security is not enabled.
A secret-bearing read (``~/.ssh``, ``.env`` ...) is routed through the engine as an approval
request even on the fast path: it is asked, never silently allowed.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

from .. import paths as _paths
from .._runtime import runtime
from ..engine import ToolBlocked
from ..events import RiskLevel
from .._atomic import write_atomic
from .._guard import guard
from ._diff import DiffError, apply_edit

__all__ = ["read_file", "list_files", "write_file", "apply_diff", "copy_file", "move_file", "delete_file",
           "download_file", "ALLOWED_SCHEMES", "MAX_READ_BYTES", "MAX_DOWNLOAD_BYTES"]

MAX_READ_BYTES = 1024 * 1024
MAX_WRITE_CHARS = 10 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
MAX_LIST_ENTRIES = 1000
ALLOWED_SCHEMES = ("https", "http")


def _refuse_protected(tool: str, *paths: object) -> None:
    """Raise ``ToolBlocked`` if any path is protected (as written or as it resolves)."""
    for p in paths:
        why = _paths.protection_reason(p)
        if why:
            raise ToolBlocked(f"{tool} may not modify {p!r}: {why}")


def _ask_if_secret(tool: str, path: str, **extra: object) -> None:
    """On the fast path (nothing enabled) a secret-bearing read still goes to the engine, which asks."""
    if runtime.idle and _paths.is_secret_bearing(path):
        from .._guard import _before

        _before(tool, RiskLevel.HIGH, {"path": path, **extra})


def _check_str(name: str, value: object) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError(f"{name} must be a non-empty path string")
    return value


def _read(path: str, max_bytes: int) -> str:
    path = _check_str("path", path)
    _ask_if_secret("read_file", path)
    with open(os.path.expanduser(path), "rb") as f:
        data = f.read(max(0, min(int(max_bytes), MAX_READ_BYTES)) + 1)
    limit = min(int(max_bytes), MAX_READ_BYTES)
    text = data[:limit].decode("utf-8", "replace")
    return text + ("\n[truncated]" if len(data) > limit else "")


@guard(name="read_file", risk=RiskLevel.NONE)
def read_file(path: str, max_bytes: int = MAX_READ_BYTES) -> str:
    """Read a text file and return its content (at most ``max_bytes``, default 1 MiB)."""
    return _read(path, max_bytes)


@guard(name="list_files", risk=RiskLevel.NONE)
def list_files(directory: str = ".", pattern: str | None = None) -> list[str]:
    """List the names in ``directory`` (optionally only those matching the glob ``pattern``), dirs end in '/'."""
    directory = _check_str("directory", directory)
    _ask_if_secret("list_files", directory)
    out: list[str] = []
    with os.scandir(os.path.expanduser(directory)) as it:
        for entry in it:
            if pattern and not fnmatch.fnmatch(entry.name, pattern):
                continue
            out.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
            if len(out) >= MAX_LIST_ENTRIES:
                break
    return sorted(out)


def _atomic_write(path: str, data: bytes) -> None:
    """Write via a temp file and rename: a symlink planted at ``path`` is replaced, never followed."""
    target = os.path.expanduser(path)
    parent = os.path.dirname(os.path.abspath(target)) or "."
    os.makedirs(parent, exist_ok=True)
    try:  # a replaced file keeps its mode; a new one gets the usual 0644
        mode = os.stat(target, follow_symlinks=False).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    write_atomic(Path(target), data, mode=mode)


@guard(name="write_file", risk=RiskLevel.HIGH)
def write_file(path: str, content: str, append: bool = False) -> str:
    """Write ``content`` to the file at ``path`` (replacing it, or appending when ``append``)."""
    path = _check_str("path", path)
    if not isinstance(content, str):
        raise TypeError("content must be a string")
    if len(content) > MAX_WRITE_CHARS:
        raise ValueError(f"content longer than {MAX_WRITE_CHARS} characters")
    _refuse_protected("write_file", path)
    data = content.encode("utf-8")
    if append:
        try:
            with open(os.path.expanduser(path), "rb") as f:
                data = f.read() + data
        except FileNotFoundError:
            pass
    _atomic_write(path, data)
    return f"wrote {len(content)} characters to {path}"


@guard(name="apply_diff", risk=RiskLevel.HIGH)
def apply_diff(path: str, diff: str) -> str:
    """Apply a unified diff or SEARCH/REPLACE blocks to the file at ``path``; nothing changes if it does not fit."""
    path = _check_str("path", path)
    _refuse_protected("apply_diff", path)
    with open(os.path.expanduser(path), encoding="utf-8", newline="") as f:
        text = f.read(MAX_WRITE_CHARS + 1)
    if len(text) > MAX_WRITE_CHARS:
        raise ValueError(f"{path} is larger than {MAX_WRITE_CHARS} characters")
    try:
        new = apply_edit(text, diff)
    except DiffError as exc:
        raise ValueError(f"diff does not apply to {path}: {exc}") from None
    _atomic_write(path, new.encode("utf-8"))
    return f"applied diff to {path}"


@guard(name="copy_file", risk=RiskLevel.HIGH)
def copy_file(src: str, dst: str) -> str:
    """Copy the file ``src`` to ``dst`` (a file path or an existing directory)."""
    src, dst = _check_str("src", src), _check_str("dst", dst)
    _refuse_protected("copy_file", src, dst)
    real_dst = os.path.expanduser(dst)
    if os.path.isdir(real_dst):
        real_dst = os.path.join(real_dst, os.path.basename(src))
        _refuse_protected("copy_file", real_dst)
    with open(os.path.expanduser(src), "rb") as f:
        data = f.read(MAX_DOWNLOAD_BYTES + 1)
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ValueError(f"{src} is larger than {MAX_DOWNLOAD_BYTES} bytes")
    _atomic_write(real_dst, data)
    return f"copied {src} to {real_dst}"


@guard(name="move_file", risk=RiskLevel.HIGH)
def move_file(src: str, dst: str) -> str:
    """Move (rename) the file ``src`` to ``dst`` (files only: a moved directory could carry protected files)."""
    src, dst = _check_str("src", src), _check_str("dst", dst)
    _refuse_protected("move_file", src, dst)
    if os.path.isdir(os.path.expanduser(src)) and not os.path.islink(os.path.expanduser(src)):
        raise IsADirectoryError(f"{src} is a directory; move_file moves files only")
    real_dst = os.path.expanduser(dst)
    if os.path.isdir(real_dst):
        real_dst = os.path.join(real_dst, os.path.basename(src))
        _refuse_protected("move_file", real_dst)
    if os.path.islink(real_dst):
        raise ToolBlocked(f"move_file will not overwrite the symlink {dst!r}")
    shutil.move(os.path.expanduser(src), real_dst)
    return f"moved {src} to {real_dst}"


@guard(name="delete_file", risk=RiskLevel.HIGH)
def delete_file(path: str) -> str:
    """Delete the file at ``path`` (not directories)."""
    path = _check_str("path", path)
    _refuse_protected("delete_file", path)
    target = os.path.expanduser(path)
    if os.path.isdir(target) and not os.path.islink(target):
        raise IsADirectoryError(f"{path} is a directory; delete_file removes files only")
    os.unlink(target)
    return f"deleted {path}"


class _CheckedRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are re-checked against the scheme allow-list."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ALLOWED_SCHEMES:
            raise ToolBlocked(f"download_file: redirect to a disallowed scheme ({newurl[:100]!r})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@guard(name="download_file", risk=RiskLevel.MEDIUM)
def download_file(url: str, directory: str, filename: str | None = None,
                  max_bytes: int = MAX_DOWNLOAD_BYTES, timeout: float = 30.0) -> str:
    """Download ``url`` (http/https only) into ``directory`` as ``filename`` (default: from the URL), size-capped."""
    if not isinstance(url, str) or len(url) > 8192:
        raise ValueError("url must be a string of at most 8192 characters")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.netloc:
        raise ToolBlocked(f"download_file: scheme {parts.scheme!r} is not allowed (allowed: {', '.join(ALLOWED_SCHEMES)})")
    directory = _check_str("directory", directory)
    name = filename or os.path.basename(urllib.parse.unquote(parts.path)) or "download"
    if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"bad file name {name!r}")
    dest = os.path.join(os.path.expanduser(directory), name)
    _refuse_protected("download_file", dest)
    cap = max(0, min(int(max_bytes), MAX_DOWNLOAD_BYTES))
    opener = urllib.request.build_opener(_CheckedRedirect())
    buf = bytearray()
    with opener.open(urllib.request.Request(url, headers={"User-Agent": "airlock"}), timeout=timeout) as resp:
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise ValueError(f"download is {declared} bytes (limit {cap})")
        while True:
            chunk = resp.read(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > cap:
                raise ValueError(f"download exceeds {cap} bytes; aborted")
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(dest, bytes(buf))
    return f"downloaded {len(buf)} bytes to {dest}"
