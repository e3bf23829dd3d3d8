"""Key metadata (names, dates, version ids), never values, in a small 0600 JSON file.

The UI and ``airlock keys list`` read this without touching the secret backend (no unlock, no
keyring prompt), so listing is always possible and cheap.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import write_private
from ._errors import CorruptStore

STALE_DAYS = 90
KEEP_PREVIOUS = 5


@dataclass
class Version:
    entry: str
    stored: float
    retired: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "stored": self.stored, "retired": self.retired}


@dataclass
class KeyMeta:
    name: str
    created: float
    current: Version
    rotated: float | None = None
    last_used: float | None = None
    previous: list[Version] = field(default_factory=list)
    serial: int = 1
    backend: str = ""  # "keyring" or "encrypted-file": where the values were written

    def to_dict(self) -> dict[str, Any]:
        return {"created": self.created, "rotated": self.rotated, "last_used": self.last_used,
                "current": self.current.to_dict(), "previous": [v.to_dict() for v in self.previous],
                "serial": self.serial, "backend": self.backend}

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> "KeyMeta":
        return cls(name=name, created=float(d["created"]), current=Version(**d["current"]),
                   rotated=d.get("rotated"), last_used=d.get("last_used"),
                   previous=[Version(**v) for v in d.get("previous", [])], serial=int(d.get("serial", 1)),
                   backend=str(d.get("backend", "")))


class MetaFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()

    def load(self) -> dict[str, KeyMeta]:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise CorruptStore(f"{self.path} is not valid JSON; left untouched") from exc
        try:
            return {n: KeyMeta.from_dict(n, d) for n, d in raw.get("keys", {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptStore(f"{self.path} has an invalid entry; left untouched") from exc

    def save(self, keys: dict[str, KeyMeta]) -> None:
        body = {"format": 1, "saved": time.time(), "keys": {n: m.to_dict() for n, m in sorted(keys.items())}}
        write_private(self.path, (json.dumps(body, indent=1) + "\n").encode())
