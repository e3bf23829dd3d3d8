"""The redaction engine: find credentials and personal data in text and mask them whole.

``find_secrets(text)`` returns ``SecretFinding(start, end, kind, confidence)`` spans (merged,
sorted); ``redact(text)`` replaces each span by ``[REDACTED:<kind>]``. Detectors:
vendor formats (prefix + charset + length + checksum or decoded structure), private-key blocks,
JWTs, URL/curl credentials, Authorization headers, keyword assignments with an entropy check,
cards, IBANs, US SSNs, e-mails, phone numbers, and the exact values held in the key store.

Linear time: every regex is a bounded repeat of single character classes after a literal
or boundary anchor. One RE2 pass (``_prefilter``) first says which detectors can fire at all;
only those run, so clean text costs about one DFA scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from .. import _redact
from . import _checks, _context, _pii
from . import _strict
from ._gates import PREFILTER, fired_gates
from ._known import KNOWN, KnownValues
from ._vendors import VENDOR_RULES

__all__ = ["SecretFinding", "find_secrets", "redact", "enable_redaction", "disable_redaction", "KNOWN",
           "KnownValues", "mask", "redact_layered", "redact_many", "MAX_SCAN", "filter_output", "validate_output_safety", "filter_value", "output_hook",
           "enable_output_filter"]

MAX_SCAN = 8 * 1024 * 1024  # beyond this, scan in windows (see find_secrets)


@dataclass(frozen=True, slots=True)
class SecretFinding:
    start: int
    end: int
    kind: str
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "kind": self.kind, "confidence": self.confidence}


Hit = tuple[int, int, str, float]
_ALL_ANCHORS = tuple(sorted({a for r in VENDOR_RULES for a in r.anchors}))
_PREFIXES = tuple(sorted({a for r in VENDOR_RULES for a in r.anchors
                          if len(a) >= 3 and a[0].isalnum()}))


def _vendor_hits(text: str, rejected: list[tuple[int, int]], fired: set[str] | None) -> Iterable[Hit]:
    """Vendor-format matches. A match that fails its check (checksum, structure, filler text) is
    remembered in ``rejected``: a near-miss stays a near-miss even behind a ``token=`` keyword."""
    if fired is None:
        present = {a for a in _ALL_ANCHORS if a in text}
        if not present:
            return
        rules = [r for r in VENDOR_RULES if not present.isdisjoint(r.anchors)]
    else:
        rules = [VENDOR_RULES[i] for i in sorted(_VENDOR_GATES[n] for n in fired if n in _VENDOR_GATES)]
    for rule in rules:
        for m in rule.pattern.finditer(text):
            v = m.group(rule.group)
            if not _checks.has_filler(v) and (rule.check is None or rule.check(v)):
                yield (m.start(rule.group), m.end(rule.group), rule.kind, rule.confidence)
            else:
                rejected.append((m.start(rule.group), m.end(rule.group)))


_VENDOR_GATES = {f"v{i}": i for i in range(len(VENDOR_RULES))}  # gate name -> rule index
_PII: tuple[tuple[str, Callable[[str], Iterable[Hit]]], ...] = (
    ("card", _pii.cards), ("iban", _pii.ibans), ("ssn", _pii.ssns), ("email", _pii.emails), ("phone", _pii.phones))


def _all_hits(text: str, pii: bool, fired: set[str] | None = None) -> list[Hit]:
    """Every raw hit. ``fired``: the prefilter's gate names (only those detectors run); ``None``
    runs every detector (the reference behaviour the gated one must equal)."""
    def on(name: str) -> bool:
        return fired is None or name in fired

    hits: list[Hit] = []
    if "PRIVATE KEY" in text and on("pem"):
        hits.extend(_context.pem_blocks(text))
    rejected: list[tuple[int, int]] = []
    hits.extend(_vendor_hits(text, rejected, fired))
    if "eyJ" in text and on("jwt"):
        hits.extend(_context.jwts(text))
    if on("url"):
        hits.extend(_context.url_creds(text))
    if on("k8s"):
        hits.extend(_context.k8s_secrets(text))
    if on("curl"):
        hits.extend(_context.curl_users(text))
    if on("bearer"):
        hits.extend(_context.bearer(text))
    assigned = list(_context.assignments(text)) if (on("assign") or on("flag") or on("xml")) else []
    if assigned:
        # a vendor-prefixed value that no vendor rule accepted is a near-miss, not a generic secret
        accepted = [(h[0], h[1]) for h in hits]
        assigned = [h for h in assigned
                    if not any(s < h[1] and h[0] < e for s, e in rejected)
                    and not (text.startswith(_PREFIXES, h[0]) and not any(s < h[1] and h[0] < e for s, e in accepted))]
    hits.extend(assigned)
    if len(KNOWN):
        hits.extend(KNOWN.find(text))
    if pii:
        for name, det in _PII:
            if on(name):
                hits.extend(det(text))
    return hits


def _merge(hits: list[Hit]) -> list[SecretFinding]:
    """Union of overlapping spans; the merged span keeps the kind of its most confident part."""
    hits.sort(key=lambda h: (h[0], -h[1]))
    out: list[list] = []
    for s, e, k, c in hits:
        if e <= s:
            continue
        if out and s < out[-1][1]:
            last = out[-1]
            last[1] = max(last[1], e)
            if c > last[3] or (c == last[3] and k == "stored_key"):
                last[2], last[3] = k, c
        else:
            out.append([s, e, k, c])
    return [SecretFinding(s, e, k, c) for s, e, k, c in out]


def find_secrets(text: str, *, pii: bool = True, min_confidence: float = 0.0,
                 _fired: set[str] | None | bool = True) -> list[SecretFinding]:
    """Every secret or personal-data span in ``text``. Never raises on a ``str``."""
    if not isinstance(text, str) or len(text) < 6:
        return []
    if len(text) > MAX_SCAN:
        # windows overlap by 8 kB so a secret on a boundary is still seen whole
        found: list[Hit] = []
        step, overlap = MAX_SCAN, 8192
        for base in range(0, len(text), step):
            chunk = text[base: base + step + overlap]
            found.extend((s + base, e + base, k, c) for s, e, k, c in _all_hits(chunk, pii, fired_gates(chunk)))
        hits = found
    else:
        hits = _all_hits(text, pii, fired_gates(text) if _fired is True else _fired)  # type: ignore[arg-type]
    return [f for f in _merge(hits) if f.confidence >= min_confidence]


def mask(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def redact(text: str, *, pii: bool = True, _fired: set[str] | None | bool = True) -> str:
    """``text`` with every finding replaced by ``[REDACTED:<kind>]`` (the whole secret, never half)."""
    if not isinstance(text, str):
        return text
    found = find_secrets(text, pii=pii, _fired=_fired)
    if not found:
        return text
    out: list[str] = []
    pos = 0
    for f in found:
        out.append(text[pos:f.start])
        out.append(mask(f.kind))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


# Short strings (keys, tool names, enums) repeat in every record: remember their result. Bounded,
# cleared whole when full, and dropped whenever the key store's values change (``KNOWN.version``).
_CACHE: dict[str, str] = {}
_CACHE_MAX_ITEMS = 4096
_CACHE_MAX_LEN = 256
_cache_version = -1


def redact_layered(text: str) -> str:
    """The audit log's default redactor: this engine, then the interim redactor's passes
    (``airlock._redact``), both gated by ONE prefilter pass. Same result as
    ``_redact.redact_text(redact(text))`` on every secret; clean text costs one RE2 scan."""
    global _cache_version
    if type(text) is not str:
        return _redact.redact_text(redact(text)) if isinstance(text, str) else text
    small = len(text) <= _CACHE_MAX_LEN
    if small:
        version = KNOWN.version
        if _cache_version != version:
            _CACHE.clear()
            _cache_version = version
        hit = _CACHE.get(text)
        if hit is not None:
            return hit
    out = _layered(text) if len(text) >= 5 else text  # shorter: nothing either layer masks
    if len(out) >= 16 and _strict.has_candidate(out):  # the audit log's last line (see _strict)
        out = _strict.mask_opaque_values(out)
    if small and KNOWN.version == version == _cache_version:  # no key-store change while we ran
        if len(_CACHE) >= _CACHE_MAX_ITEMS:
            _CACHE.clear()
        _CACHE[text] = out
    return out


def all_clean(texts: list[str]) -> bool:
    """True only when ``redact_layered`` would return every one of ``texts`` unchanged, found with
    ONE prefilter scan of them joined: each text stands verbatim in the joined one and a gate is a
    plain search, so a gate that matches a text matches the join (a match across a joint is a
    false alarm: the caller then redacts each text). Clean texts of cacheable size are cached."""
    version = KNOWN.version
    joined = "\n".join(texts)
    if not _join_ungated(joined) or _strict.has_candidate(joined):
        return False  # (line starts count as starts, so no text's candidate hides in the join)
    _cache_clean(texts, version)
    return True


def _join_ungated(joined: str) -> bool:
    """No stored key and no gate of either layer fires on ``joined`` (so on none of its parts)."""
    if len(joined) > MAX_SCAN:
        return False
    if len(KNOWN) and next(KNOWN.find(joined), None) is not None:
        return False
    return fired_gates(joined) == set()


def _cache_clean(texts: list[str], version: int) -> None:
    """Remember ``texts`` as their own redaction, unless the key store changed since ``version``."""
    global _cache_version
    if KNOWN.version != version:
        return
    if _cache_version != version:
        _CACHE.clear()
        _cache_version = version
    for t in texts:
        if len(t) <= _CACHE_MAX_LEN:
            if len(_CACHE) >= _CACHE_MAX_ITEMS:
                _CACHE.clear()
            _CACHE[t] = t


def redact_many(texts: list[str]) -> list[str]:
    """``[redact_layered(t) for t in texts]``, with ONE prefilter scan of them joined deciding
    for all (see ``all_clean`` for why a clean join proves every text clean of both layers).
    When no gate and no stored key fires, only the audit-only opaque-value pass is left, and it
    runs just on the texts that have a candidate of their own: one plain-hex id among them no
    longer sends every text through the whole redactor."""
    version = KNOWN.version
    joined = "\n".join(texts)
    if not _join_ungated(joined):
        return [redact_layered(t) for t in texts]
    if not _strict.has_candidate(joined):
        _cache_clean(texts, version)
        return list(texts)
    # no detector of either layer fires, so ``_layered(t) is t`` and ``redact_layered(t)`` is
    # exactly its last step: the opaque-value pass when ``t`` has a candidate
    return [_strict.mask_opaque_values(t) if len(t) >= 16 and _strict.has_candidate(t) else t for t in texts]


def audit_cache() -> dict[str, str]:
    """``redact_layered``'s results for short strings, valid for the key store's current values
    (a reader may look a string up here before calling ``redact_layered``)."""
    global _cache_version
    version = KNOWN.version
    if _cache_version != version:
        _CACHE.clear()
        _cache_version = version
    return _CACHE


def _layered(text: str) -> str:
    if len(text) > MAX_SCAN:
        return _redact.redact_text(redact(text))
    fired = fired_gates(text)
    if fired is None:
        return _redact._redact(redact(text, _fired=None))
    if not fired and not len(KNOWN):
        return text  # no detector of either layer can fire: the common case, one RE2 scan
    out = redact(text, _fired=fired) if len(text) >= 6 else text
    if out is not text:
        return _redact._redact(out)  # the engine changed the text: the interim passes run in full
    if any(n.startswith("i:") for n in fired):
        return _redact._redact(text, fired)
    return text


def enable_redaction(store: object | None = None) -> None:
    """Make this engine the audit log's redactor (through the ``airlock.audit.set_redactor`` seam).

    ``store``: a ``KeyStore`` whose values (current and kept previous ones) are registered for
    exact-match blanking, so even a key with no recognisable format never reaches the log."""
    from .. import audit

    if store is not None:
        store.load_known_values()  # type: ignore[attr-defined]
    audit.set_redactor(None)  # the default: this engine plus the interim passes, one prefilter for both


def disable_redaction() -> None:
    from .. import audit

    audit.set_redactor(None)


def __getattr__(name: str) -> object:  # PEP 562: the output filter loads on first use
    if name in ("filter_output", "validate_output_safety", "filter_value", "output_hook", "enable_output_filter"):
        from . import _output

        return getattr(_output, name)
    raise AttributeError(name)
