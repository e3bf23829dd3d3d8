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
import re
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Callable

from . import _redact
from .events import AuditRecord

#: what ``events.utc_iso`` writes
_UTC_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?\+00:00")

GENESIS_HASH = "0" * 64
MAX_RECORD_BYTES = 256 * 1024
CHAIN_FIELDS = ("seq", "prev_hash", "hash")


# Built once: ``json.dumps`` with these options would build a new encoder on every call.
_CANON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical(obj: Any) -> str:
    """The one serialisation the hash is computed over (sorted keys, no spaces, UTF-8 text);
    exactly ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)``."""
    return _CANON.encode(obj)


# ----------------------------------------------------------------- redaction seam
def _engine_then_interim(s: str) -> str:
    """The full redaction engine (vendor formats, context, personal data), then the interim
    redactor's credential-shape pass on what is left: both must miss for a secret to be written.
    One prefilter pass gates both, and short strings are cached (``redaction.redact_layered``).
    Fails secure by itself (so ``safe_text`` adds no wrapper): an error drops the string."""
    global _layered
    try:
        if _layered is None:
            from .redaction import redact_layered

            _layered = redact_layered
        return _layered(s)
    except Exception as exc:  # noqa: BLE001 - fail secure
        return f"[REDACTION FAILED: {type(exc).__name__}]"


_layered: Callable[[str], str] | None = None


def _default_memo() -> dict[str, str] | None:
    """The default redactor's cache (valid for the key store's current values), or None."""
    global _audit_cache
    try:
        if _audit_cache is None:
            from .redaction import audit_cache

            _audit_cache = audit_cache
        return _audit_cache()
    except Exception:  # noqa: BLE001 - no cache: every string goes through the redactor
        return None


_audit_cache: Callable[[], dict[str, str]] | None = None


def _redact_many(texts: list[str]) -> list[str]:
    from .redaction import redact_many

    return redact_many(texts)


_redactor: Callable[[str], str] = _engine_then_interim


def set_redactor(fn: Callable[[str], str] | None) -> None:
    """Replace the function every string of every record (keys too) goes through before it is
    written; ``None`` restores the default (the redaction engine plus the interim pass). Applies
    to all ``AuditLog``s that were not given their own ``redactor=``."""
    global _redactor
    _redactor = _engine_then_interim if fn is None else fn


def safe_text(fn: Callable[[str], str]) -> Callable[[str], str]:
    """A redactor that cannot leak or crash: if it fails, the string is dropped, not written raw."""
    if fn is _redact.redact_text or fn is _engine_then_interim:  # built in: never raise, always a str
        return fn

    def run(s: str) -> str:
        try:
            out = fn(s)
        except Exception as exc:  # fail secure
            return f"[REDACTION FAILED: {type(exc).__name__}]"
        return out if type(out) is str else "[REDACTION FAILED: not a string]"
    return run


# ----------------------------------------------------------------- making values safe
_SECRET_KEYS: dict[str, bool] = {}


def _secret_key(k: str) -> bool:
    """``_redact.is_secret_key`` for an exact ``str``, memoised (argument names repeat constantly)."""
    hit = _SECRET_KEYS.get(k)
    if hit is None:
        if len(_SECRET_KEYS) >= 4096:
            _SECRET_KEYS.clear()
        hit = _SECRET_KEYS[k] = _redact.is_secret_key(k)
    return hit


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

    __slots__ = ("caps", "redact", "nodes", "budget", "size", "truncated", "_path", "_memo", "_pending")

    def __init__(self, caps: _Caps, redact: Callable[[str], str] | None = None) -> None:
        self.caps = caps
        self.redact = redact
        self.nodes = caps.nodes
        self.budget = caps.text
        self.size = 0
        self.truncated = False
        self._path: set[int] = set()
        # the default redactor's short-string results, looked up here without two calls per string
        self._memo: dict[str, str] | None = _default_memo() if redact is _engine_then_interim else None
        # dict values the memo did not know, placed raw for now: ``resolve`` checks them all with
        # one prefilter scan and redacts them one by one only when that scan finds a candidate
        self._pending: list[tuple[dict[str, Any], str, str]] | None = [] if self._memo is not None else None

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
            memo = self._memo
            s = memo.get(obj) if memo is not None else None
            if s is None:
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
            self._path.add(id(obj))
            out = self.fill(obj, depth + 1, True)
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

    def fill(self, obj: dict[str, Any], depth: int, redact_keys: bool) -> dict[str, Any]:
        """The items of a dict with plain ``str`` keys, values at ``depth``: the body of ``fast``'s
        dict case, with the common leaves (short ASCII strings, None, bools) handled in line."""
        out: dict[str, Any] = {}
        redact, memo = self.redact, self._memo
        for k, v in obj.items():
            if redact_keys:
                key = memo.get(k) if memo is not None else None
                if key is None:
                    key = redact(k) if redact is not None else k
                self.size += 6 * len(key)
            else:
                key = k
            tv = type(v)
            if tv is str:
                if redact_keys and redact is not None and v and _secret_key(k):
                    out[key] = _redact.MARK
                    self.nodes -= 1
                    continue
                if len(v) <= 4096 and self.budget > 4096 and self.nodes > 0 and v.isascii():
                    self.nodes -= 1
                    self.budget -= len(v)
                    r = memo.get(v) if memo is not None else None
                    if r is None:
                        if self._pending is not None and (redact_keys or k != "timestamp"):
                            self._pending.append((out, key, v))
                            r = v
                        elif self._pending is not None and _UTC_ISO.fullmatch(v):
                            # the record's own clock reading (``utc_iso``): digits in fixed places.
                            # The default redactor leaves it as is (a test checks all of time), but
                            # only after its phone-number pass, a fresh miss for every record.
                            r = v
                        else:
                            r = redact(v) if redact is not None else v
                    self.size += 32 + 6 * len(r)
                    out[key] = r
                    continue
            elif v is None or tv is bool:
                self.nodes -= 1
                self.size += 32
                out[key] = v
                continue
            out[key] = self.fast(v, depth)
        return out

    def resolve(self) -> None:
        """Redact the deferred strings: one prefilter scan of them all decides for all of them
        (``redaction.redact_many``); should that fail, each goes through the redactor as usual."""
        pending, self._pending = self._pending, None
        if not pending:
            return
        try:
            done: list[str] | None = _redact_many([t for _c, _k, t in pending])
        except Exception:  # noqa: BLE001 - no shortcut: redact each one
            done = None
        redact = self.redact
        for i, (container, key, raw) in enumerate(pending):
            if done is not None:
                r = done[i]
            else:
                r = redact(raw) if redact is not None else raw
            if r is raw:
                continue
            if container.get(key) is raw:  # (a later equal key may have replaced it: leave that)
                container[key] = r
                self.size += 6 * (len(r) - len(raw))

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
    s = _Sanitizer(_CAP_STEPS[0], text)
    fields = record.to_dict()
    for k in CHAIN_FIELDS:
        fields.pop(k, None)
    # top-level keys are the schema: only the values are redacted (a secret-named key cannot occur)
    body: dict[str, Any] = s.fill(fields, 1, False)
    s.resolve()
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
