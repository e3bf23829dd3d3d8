"""How an audit record becomes one line: JSON-safe values, redaction, size caps, canonical form.

Kept apart from the writer so the verifier and the writer agree on one definition of
``canonical`` and so the redaction seam (``set_redactor``) has a single home.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import itertools
import json
import math
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Callable

from . import _redact
from .events import AuditRecord

GENESIS_HASH = "0" * 64
MAX_RECORD_BYTES = 256 * 1024
CHAIN_FIELDS = ("seq", "prev_hash", "hash")


def canonical(obj: Any) -> str:
    """The one serialisation the hash is computed over (sorted keys, no spaces, UTF-8 text)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# ----------------------------------------------------------------- redaction seam
def _engine_then_interim(s: str) -> str:
    """The full redaction engine (vendor formats, context, personal data), then the interim
    redactor's credential-shape pass on what is left: both must miss for a secret to be written."""
    from .redaction import redact

    return _redact.redact_text(redact(s))


_redactor: Callable[[str], str] = _engine_then_interim


def set_redactor(fn: Callable[[str], str] | None) -> None:
    """Replace the function every string of every record (keys too) goes through before it is
    written; ``None`` restores the default (the redaction engine plus the interim pass). Applies
    to all ``AuditLog``s that were not given their own ``redactor=``."""
    global _redactor
    _redactor = _engine_then_interim if fn is None else fn


def safe_text(fn: Callable[[str], str]) -> Callable[[str], str]:
    """A redactor that cannot leak or crash: if it fails, the string is dropped, not written raw."""
    if fn is _redact.redact_text:  # the built-in one never raises and always returns a str
        return fn

    def run(s: str) -> str:
        try:
            out = fn(s)
        except Exception as exc:  # fail secure
            return f"[REDACTION FAILED: {type(exc).__name__}]"
        return out if type(out) is str else "[REDACTION FAILED: not a string]"
    return run


# ----------------------------------------------------------------- making values safe
@dataclass(frozen=True, slots=True)
class _Caps:
    chars: int      # per string
    items: int      # per container
    depth: int
    nodes: int      # per record
    text: int       # total string chars per record: bounds the redactor's work (linear, but not free)


_CAP_STEPS = (_Caps(64 * 1024, 1000, 32, 50_000, 1 << 20), _Caps(8 * 1024, 200, 16, 5_000, 256 * 1024),
              _Caps(1024, 50, 8, 1_000, 64 * 1024))
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=.~")


def _cut(s: str, n: int) -> str:
    """``s`` shortened to about ``n`` chars with a marker. Backs off a token cut in half (up to 1 kB)
    so the kept part never ends in the first half of a secret the redactor could no longer see."""
    if len(s) <= n:
        return s
    i = n
    floor = max(0, n - 1024)
    while i > floor and s[i - 1] in _TOKEN_CHARS:
        i -= 1
    if i == floor and floor > 0:
        i = n  # one long run (a blob): keep it, it is not a token we could have cut
    return f"{s[:i]}…[truncated {len(s) - i} chars]"


class _Sanitizer:
    """Turns any Python value into JSON types within the caps, passing every string it emits
    through ``redact`` (when given). Never raises. Also keeps an upper bound of the output size
    (``size``: 6 bytes per char covers JSON escapes and UTF-8), so the caller only serialises to
    measure when the record might really be too big."""

    def __init__(self, caps: _Caps, redact: Callable[[str], str] | None = None) -> None:
        self.caps = caps
        self.redact = redact
        self.nodes = caps.nodes
        self.budget = caps.text
        self.size = 0
        self.truncated = False
        self._path: set[int] = set()

    def plain(self, s: str) -> str:
        """``s`` as a plain, UTF-8-encodable str within the caps (not redacted)."""
        if type(s) is not str:  # a str subclass may override anything; copy out a plain str
            s = str.__getitem__(s, slice(None))
        limit = max(64, min(self.caps.chars, self.budget))
        if len(s) > limit:
            self.truncated = True
            s = _cut(s, limit)
        self.budget -= len(s)
        if not s.isascii():
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates cannot be written as UTF-8
                s = s.encode("utf-8", "replace").decode("utf-8")
        return s

    def text(self, s: str) -> str:
        s = self.plain(s)
        if self.redact is not None:
            s = self.redact(s)
        self.size += 6 * len(s)
        return s

    def _repr(self, obj: Any) -> str:
        try:
            r = repr(obj)
        except BaseException as exc:  # noqa: BLE001 - a hostile __repr__ must not lose the record
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            r = f"<unrepresentable {type(obj).__name__}>"
        return self.text(r if type(r) is str else f"<{type(obj).__name__}>")

    def key(self, k: Any) -> tuple[str, str]:
        """(key before redaction, key as written)."""
        if isinstance(k, str):
            p = self.plain(k)[:1024]
        elif k is None or isinstance(k, (bool, int, float)):
            p = self.plain(json.dumps(self.value(k, 0)))[:1024]
        else:
            p = self._repr(k)[:1024]
        out = self.redact(p) if self.redact is not None else p
        self.size += 6 * len(out)
        return p, out

    def fast(self, obj: Any, depth: int) -> Any:
        """``value`` for the plain JSON types a record almost always holds (exact types only, so
        no user code runs); anything else, or anything near a cap, takes the careful path."""
        t = type(obj)
        if t is str and len(obj) <= 4096 and self.budget > 4096 and self.nodes > 0:
            self.nodes -= 1
            self.budget -= len(obj)
            if not obj.isascii():
                return self.value(obj, depth)  # surrogate check
            s = self.redact(obj) if self.redact is not None else obj
            self.size += 32 + 6 * len(s)
            return s
        if t is dict and depth < self.caps.depth and len(obj) <= self.caps.items and self.nodes > len(obj):
            if any(type(k) is not str or len(k) > 1024 or not k.isascii() for k in obj):
                return self.value(obj, depth)  # odd keys: the careful path
            if id(obj) in self._path:
                return "…[cycle]"
            self.nodes -= 1
            self.size += 32
            out: dict[str, Any] = {}
            redact = self.redact
            self._path.add(id(obj))
            for k, v in obj.items():
                key = redact(k) if redact is not None else k
                self.size += 6 * len(key)
                if redact is not None and type(v) is str and v and _redact.is_secret_key(k):
                    out[key] = _redact.MARK
                    self.nodes -= 1
                else:
                    out[key] = self.fast(v, depth + 1)
            self._path.discard(id(obj))
            return out
        if t is list and depth < self.caps.depth and len(obj) <= self.caps.items and self.nodes > len(obj):
            if id(obj) in self._path:
                return "…[cycle]"
            self.nodes -= 1
            self.size += 32
            self._path.add(id(obj))
            res = [self.fast(v, depth + 1) for v in obj]
            self._path.discard(id(obj))
            return res
        if obj is None or t is bool or (t is int and -(1 << 63) <= obj < (1 << 64)):
            self.nodes -= 1
            self.size += 32
            return obj
        return self.value(obj, depth)

    def value(self, obj: Any, depth: int) -> Any:
        self.nodes -= 1
        self.size += 32
        if self.nodes < 0:
            self.truncated = True
            return "…[truncated: record too large]"
        try:
            return self._value(obj, depth)
        except Exception:  # a hostile __int__/__float__/__iter__...: keep the record, show its repr
            return self._repr(obj)

    def _value(self, obj: Any, depth: int) -> Any:
        if obj is None or obj is True or obj is False:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, enum.Enum):
            return self.value(obj.value, depth)
        if isinstance(obj, int):
            v = int.__index__(obj)
            return v if v.bit_length() <= 64 else self.text(f"<int {v.bit_length()} bits: {hex(v)[:64]}…>")
        if isinstance(obj, float):
            v = float.__float__(obj)
            return v if math.isfinite(v) else ("NaN" if v != v else ("Infinity" if v > 0 else "-Infinity"))
        if isinstance(obj, (bytes, bytearray, memoryview)):
            raw = bytes(obj[: self.caps.chars])
            n = len(obj)
            return self.text(f"<{n} bytes> " + repr(raw) + ("…" if n > len(raw) else ""))
        if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
            return self.text(obj.isoformat())
        if isinstance(obj, (PurePath, uuid.UUID, Decimal)):
            return self.text(str(obj))
        if depth >= self.caps.depth:
            self.truncated = True
            return f"…[truncated: nested deeper than {self.caps.depth}]"
        oid = id(obj)
        if oid in self._path:
            return "…[cycle]"
        self._path.add(oid)
        try:
            return self._container(obj, depth + 1)
        finally:
            self._path.discard(oid)

    def _container(self, obj: Any, depth: int) -> Any:
        items = self.caps.items
        try:
            if isinstance(obj, Mapping):
                out: dict[str, Any] = {}
                for i, (k, v) in enumerate(obj.items()):
                    if i >= items:
                        self.truncated = True
                        out["…"] = f"[truncated: {len(obj) - items} more items]"
                        break
                    plain, key = self.key(k)
                    if self.redact is not None and isinstance(v, str) and v and _redact.is_secret_key(plain):
                        out[key] = _redact.MARK  # a credential-named key: the value goes whatever it looks like
                        self.nodes -= 1
                    else:
                        out[key] = self.value(v, depth)
                return out
            if isinstance(obj, (list, tuple, deque)):
                seq = [self.value(v, depth) for v in list(obj[:items] if isinstance(obj, (list, tuple)) else
                                                          itertools.islice(obj, items))]
            elif isinstance(obj, (set, frozenset)):
                seq = [self.value(v, depth) for v in sorted(itertools.islice(obj, items), key=self._repr)]
            elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
                res: dict[str, Any] = {}
                for f in dataclasses.fields(obj)[:items]:
                    res[self.key(f.name)[1]] = self.value(getattr(obj, f.name, None), depth)
                return res
            else:
                return self._repr(obj)
        except Exception:
            return self._repr(obj)
        if len(obj) > items:
            self.truncated = True
            seq.append(f"…[truncated: {len(obj) - items} more items]")
        return seq


def _fits(body: dict[str, Any], s: _Sanitizer) -> bool:
    """Under the record cap with 200 bytes to spare (seq, prev_hash, hash, the truncation flag).
    Serialises only when the cheap upper bound says it might not."""
    if s.size + 200 <= MAX_RECORD_BYTES:
        return True
    return len(canonical(body).encode("utf-8")) + 200 <= MAX_RECORD_BYTES


def prepare(record: AuditRecord, text: Callable[[str], str]) -> dict[str, Any]:
    """The record's body (no chain fields): JSON-safe, redacted, and under the size cap.

    Strings are cut to the caps *before* the redactor sees them (bounded work) and the cut backs
    off half a token, so a secret is never left half-visible. Top-level keys are the schema, not
    data: only the values go through the redactor. Later, tighter passes re-shape an already
    redacted body, so they do not redact again."""
    raw = {k: v for k, v in record.to_dict().items() if k not in CHAIN_FIELDS}
    s = _Sanitizer(_CAP_STEPS[0], text)
    body: dict[str, Any] = {k: s.fast(v, 1) for k, v in raw.items()}
    truncated = s.truncated
    if not _fits(body, s):
        for caps in _CAP_STEPS[1:]:
            s = _Sanitizer(caps)
            body = {k: s.value(v, 1) for k, v in body.items()}
            truncated = truncated or s.truncated
            if _fits(body, s):
                break
        else:
            preview = _cut(canonical({k: body.get(k) for k in ("tool_input", "extra", "findings")}), 4096)
            body = {k: (_cut(v, 1024) if isinstance(v, str) else v) for k, v in body.items()
                    if k not in ("tool_input", "extra", "findings", "agent")}
            body.update(tool_input={"…preview": preview}, extra={}, findings=[], agent={})
            truncated = True
    if truncated:
        extra = body.get("extra")
        body["extra"] = {**(extra if isinstance(extra, dict) else {"extra": extra}), "_audit_truncated": True}
    return body


def fallback(record: AuditRecord, exc: BaseException) -> dict[str, Any]:
    """A minimal body when ``prepare`` itself failed (a bug, or memory): the decision is still
    recorded, with the field values reduced to short redacted reprs and the failure noted."""
    body: dict[str, Any] = {}
    for name in AuditRecord._FIELDS:
        if name in CHAIN_FIELDS:
            continue
        try:
            v = getattr(record, name, None)
            if v is None or type(v) is bool or (type(v) is int and abs(v) < 1 << 63):
                body[name] = v
            else:
                text = str.__getitem__(v, slice(None)) if isinstance(v, str) else repr(v)
                body[name] = _redact.redact_text(_cut(text, 1024).encode("utf-8", "replace").decode("utf-8"))
        except Exception:
            body[name] = "<unreadable>"
    body["extra"] = {"_audit_error": f"record could not be prepared: {type(exc).__name__}"}
    body["tool_input"] = {"…repr": body.get("tool_input")}
    return body


def current_redactor() -> Callable[[str], str]:
    """The module-wide redactor (what ``set_redactor`` last installed)."""
    return _redactor
