"""``KeyStore``: named secrets with dated versions over a pluggable backend.

Backends hold values only, under entry ids ``<name>#v<serial>``; ``_meta`` holds names and dates.
``rotate`` keeps the previous value (dated) for ``rollback``; ``list`` never reads a value.
Every value the store touches is registered with the redaction engine, so it is blanked from
the audit log and tool output even when it has no recognisable format.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .. import _dirs
from ._errors import BackendUnavailable, InvalidName, KeyExists, KeyNotFound, KeyStoreError
from ._meta import KEEP_PREVIOUS, STALE_DAYS, KeyMeta, MetaFile, Version

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


class Backend(Protocol):
    @property
    def name(self) -> str: ...
    def probe(self) -> None: ...
    def get(self, entry: str) -> str | None: ...
    def set(self, entry: str, value: str) -> None: ...
    def delete(self, entry: str) -> None: ...


@dataclass(frozen=True)
class KeyInfo:
    """What a UI may show about a key: never its value."""
    name: str
    created: float
    rotated: float | None
    last_used: float | None
    previous: tuple[tuple[float, float | None], ...]  # (stored, retired) per kept older value, newest last
    backend: str = ""

    @property
    def age_days(self) -> float:
        return (time.time() - (self.rotated or self.created)) / 86400

    @property
    def stale(self) -> bool:
        return self.age_days > STALE_DAYS

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "created": self.created, "rotated": self.rotated, "last_used": self.last_used,
                "age_days": round(self.age_days, 2), "stale": self.stale,
                "previous": [{"stored": s, "retired": r} for s, r in self.previous], "backend": self.backend}


def keys_dir() -> Path:
    return _dirs.data_dir() / "keys"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidName(f"invalid key name {name[:40]!r}: use letters, digits, '_', '.', '-' (max 128)"
                          if isinstance(name, str) else "key name must be a string")
    return name


class KeyStore:
    def __init__(self, backend: Backend, meta_path: Path | None = None, *, redact: bool = True) -> None:
        self.backend = backend
        self._meta = MetaFile(meta_path or keys_dir() / "keys.json")
        self._lock = threading.RLock()
        self._redact = redact

    # ------------------------------------------------------------------ info
    @property
    def backend_name(self) -> str:
        return self.backend.name

    def list(self) -> list[KeyInfo]:
        return [self._info(m) for m in sorted(self._meta.load().values(), key=lambda m: m.name)]

    def info(self, name: str) -> KeyInfo:
        return self._info(self._require(self._meta.load(), name, values=False))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._meta.load()

    @staticmethod
    def _info(m: KeyMeta) -> KeyInfo:
        return KeyInfo(m.name, m.created, m.rotated, m.last_used, tuple((v.stored, v.retired) for v in m.previous),
                       m.backend)

    @property
    def _kind(self) -> str:
        return self.backend_name.split(":", 1)[0]

    def _require(self, keys: dict[str, KeyMeta], name: str, *, values: bool = True) -> KeyMeta:
        check_name(name)
        if name not in keys:
            raise KeyNotFound(f"no key named {name!r}")
        m = keys[name]
        if values and m.backend and m.backend != self._kind:
            raise BackendUnavailable(f"key {name!r} is kept in the {m.backend} backend, which is not the one in use "
                                     f"now ({self.backend_name}); unlock it or use --backend")
        return m

    def _remember(self, name: str, *values: str) -> None:
        if self._redact:
            from ..redaction import KNOWN

            KNOWN.add(name, [v for v in values if v])

    # ------------------------------------------------------------------ values
    def set(self, name: str, value: str, *, replace: bool = False) -> KeyInfo:
        """Store a new key. An existing name needs ``replace=True`` (which rotates, keeping the old value)."""
        check_name(name)
        if not isinstance(value, str) or not value:
            raise KeyStoreError("a key value must be a non-empty string")
        with self._lock:
            keys = self._meta.load()
            if name in keys:
                if not replace:
                    raise KeyExists(f"key {name!r} exists: use rotate (keeps the old value) or delete it first")
                return self.rotate(name, value)
            now = time.time()
            entry = f"{name}#v1"
            self.backend.set(entry, value)
            keys[name] = KeyMeta(name=name, created=now, current=Version(entry, now), backend=self._kind)
            self._meta.save(keys)
            self._remember(name, value)
            return self._info(keys[name])

    def get(self, name: str, *, touch: bool = True) -> str:
        with self._lock:
            keys = self._meta.load()
            m = self._require(keys, name)
            value = self.backend.get(m.current.entry)
            if value is None:
                raise KeyStoreError(f"key {name!r} is listed but its value is missing from {self.backend_name}")
            if touch:
                m.last_used = time.time()
                self._meta.save(keys)
            self._remember(name, value)
            return value

    def rotate(self, name: str, new_value: str) -> KeyInfo:
        """Replace the value; the old one is kept (dated) for ``rollback``; at most 5 are kept."""
        if not isinstance(new_value, str) or not new_value:
            raise KeyStoreError("a key value must be a non-empty string")
        with self._lock:
            keys = self._meta.load()
            m = self._require(keys, name)
            now = time.time()
            m.serial += 1
            entry = f"{name}#v{m.serial}"
            self.backend.set(entry, new_value)
            m.current.retired = now
            m.previous.append(m.current)
            m.current = Version(entry, now)
            m.rotated = now
            dropped = m.previous[:-KEEP_PREVIOUS]
            m.previous = m.previous[-KEEP_PREVIOUS:]
            self._meta.save(keys)
            for v in dropped:
                self.backend.delete(v.entry)
            self._remember(name, new_value, *self._values(m.previous))
            return self._info(m)

    def rollback(self, name: str) -> KeyInfo:
        """Make the most recent previous value current again; the replaced one joins the history
        (so a rollback can itself be undone)."""
        with self._lock:
            keys = self._meta.load()
            m = self._require(keys, name)
            if not m.previous:
                raise KeyStoreError(f"key {name!r} has no previous value to roll back to")
            now = time.time()
            back = m.previous.pop()
            if self.backend.get(back.entry) is None:
                raise KeyStoreError(f"the previous value of {name!r} is missing from {self.backend_name}")
            m.current.retired = now
            m.previous.append(m.current)
            back.retired = None
            m.current = back
            m.rotated = now
            self._meta.save(keys)
            return self._info(m)

    def delete(self, name: str) -> None:
        """Remove the key, every kept version and its metadata."""
        with self._lock:
            keys = self._meta.load()
            m = self._require(keys, name)
            for v in (m.current, *m.previous):
                self.backend.delete(v.entry)
            del keys[name]
            self._meta.save(keys)
        if self._redact:
            from ..redaction import KNOWN

            KNOWN.discard(name)

    def _values(self, versions: list[Version]) -> list[str]:
        out = []
        for v in versions:
            try:
                val = self.backend.get(v.entry)
            except KeyStoreError:
                continue
            if val:
                out.append(val)
        return out

    def load_known_values(self) -> int:
        """Register every stored value (current and previous) with the redaction engine; returns
        how many keys were registered. Called when the store opens so no value reaches a log."""
        n = 0
        for m in self._meta.load().values():
            if m.backend and m.backend != self._kind:
                continue
            vals = self._values([m.current, *m.previous])
            if vals:
                self._remember(m.name, *vals)
                n += 1
        return n


def open_store(*, prefer: str = "auto", password: Any = None, meta_path: Path | None = None,
               file_path: Path | None = None, redact: bool = True) -> KeyStore:
    """The user's key store. ``prefer``: ``auto`` (OS keyring, else the encrypted file),
    ``keyring`` or ``file``. ``password``: a string or a callable for the file backend (default:
    ``AIRLOCK_MASTER_PASSWORD``). Raises BackendUnavailable with every reason when none works."""
    from ._file_backend import FileBackend
    from ._keyring_backend import KeyringBackend

    reasons: list[str] = []
    if prefer in ("auto", "keyring"):
        try:
            kb = KeyringBackend()
            kb.probe()
            return KeyStore(kb, meta_path, redact=redact)
        except BackendUnavailable as exc:
            reasons.append(str(exc))
            if prefer == "keyring":
                raise
    fb = FileBackend(file_path or keys_dir() / "secrets.enc", password)
    return KeyStore(fb, meta_path, redact=redact)
