"""Exact-match redaction of values the key store holds.

A stored key must vanish from logs even when it has no recognisable format. Matching uses
``str.find`` per value (CPython's two-way/horspool search: linear in the text for a bounded
needle), so the cost is O(len(text) * number_of_keys) with a C-speed constant; values are
also matched in their common encodings (URL-quoted, base64) since that is how they leak in URLs
and Basic headers. Only SHA-256 fingerprints would be needed for *checking*, but redaction has to
find the value in text, so the values are held in memory only, never written anywhere.
"""

from __future__ import annotations

import base64
import threading
import urllib.parse
from typing import Iterable, Iterator

Hit = tuple[int, int, str, float]
MIN_LEN = 6  # shorter values would blank ordinary words


class KnownValues:
    """A thread-safe set of literal secrets to blank wherever they appear."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._needles: dict[str, frozenset[str]] = {}
        self.version = 0  # bumped on every change: caches of redacted text key on it

    def set(self, name: str, values: Iterable[str]) -> None:
        """Replace the values registered under ``name``."""
        with self._lock:
            self._needles.pop(name, None)
            self.version += 1
        self.add(name, values)

    def add(self, name: str, values: Iterable[str]) -> None:
        """Add values under ``name`` (kept: a rotated-out key still leaks if it appears)."""
        forms: set[str] = set()
        for v in values:
            if not isinstance(v, str) or len(v) < MIN_LEN:
                continue
            forms.add(v)
            forms.add(urllib.parse.quote(v, safe=""))
            b = base64.b64encode(v.encode()).decode()
            forms.add(b.rstrip("="))
        with self._lock:
            self._needles[name] = self._needles.get(name, frozenset()) | {f for f in forms if len(f) >= MIN_LEN}
            self.version += 1

    def discard(self, name: str) -> None:
        with self._lock:
            self._needles.pop(name, None)
            self.version += 1

    def clear(self) -> None:
        with self._lock:
            self._needles.clear()
            self.version += 1

    def __len__(self) -> int:
        return len(self._needles)

    def find(self, text: str) -> Iterator[Hit]:
        with self._lock:
            items = list(self._needles.items())
        for _name, forms in items:
            for needle in forms:
                pos = text.find(needle)
                while pos != -1:
                    yield (pos, pos + len(needle), "stored_key", 1.0)
                    pos = text.find(needle, pos + len(needle))


KNOWN = KnownValues()
