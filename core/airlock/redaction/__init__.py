"""The redaction engine: find credentials and personal data in text and mask them whole.

``find_secrets(text)`` returns ``SecretFinding(start, end, kind, confidence)`` spans (merged,
sorted); ``redact(text)`` replaces each span by ``[REDACTED:<kind>]``. Detectors:
vendor formats (prefix + charset + length + checksum or decoded structure), private-key blocks,
JWTs, URL/curl credentials, Authorization headers, keyword assignments with an entropy check,
cards, IBANs, US SSNs, e-mails, phone numbers, and the exact values held in the key store.

Linear time: every regex is a bounded repeat of single character classes after a literal
or boundary anchor; vendor rules are skipped by a substring prefilter when their prefix is absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from . import _checks, _context, _pii
from ._known import KNOWN, KnownValues
from ._vendors import VENDOR_RULES

__all__ = ["SecretFinding", "find_secrets", "redact", "enable_redaction", "disable_redaction", "KNOWN",
           "KnownValues", "mask", "MAX_SCAN", "filter_output", "validate_output_safety", "filter_value", "output_hook",
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


def _vendor_hits(text: str, rejected: list[tuple[int, int]]) -> Iterable[Hit]:
    """Vendor-format matches. A match that fails its check (checksum, structure, filler text) is
    remembered in ``rejected``: a near-miss stays a near-miss even behind a ``token=`` keyword."""
    present = {a for a in _ALL_ANCHORS if a in text}
    if not present:
        return
    for rule in VENDOR_RULES:
        if present.isdisjoint(rule.anchors):
            continue
        for m in rule.pattern.finditer(text):
            v = m.group(rule.group)
            if not _checks.has_filler(v) and (rule.check is None or rule.check(v)):
                yield (m.start(rule.group), m.end(rule.group), rule.kind, rule.confidence)
            else:
                rejected.append((m.start(rule.group), m.end(rule.group)))


_PII: tuple[Callable[[str], Iterable[Hit]], ...] = (_pii.cards, _pii.ibans, _pii.ssns, _pii.emails, _pii.phones)


def _all_hits(text: str, pii: bool) -> list[Hit]:
    hits: list[Hit] = []
    if "PRIVATE KEY" in text:
        hits.extend(_context.pem_blocks(text))
    rejected: list[tuple[int, int]] = []
    hits.extend(_vendor_hits(text, rejected))
    if "eyJ" in text:
        hits.extend(_context.jwts(text))
    hits.extend(_context.url_creds(text))
    hits.extend(_context.k8s_secrets(text))
    hits.extend(_context.curl_users(text))
    hits.extend(_context.bearer(text))
    assigned = list(_context.assignments(text))
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
        for det in _PII:
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


def find_secrets(text: str, *, pii: bool = True, min_confidence: float = 0.0) -> list[SecretFinding]:
    """Every secret or personal-data span in ``text``. Never raises on a ``str``."""
    if not isinstance(text, str) or len(text) < 6:
        return []
    if len(text) > MAX_SCAN:
        # windows overlap by 8 kB so a secret on a boundary is still seen whole
        found: list[Hit] = []
        step, overlap = MAX_SCAN, 8192
        for base in range(0, len(text), step):
            chunk = text[base: base + step + overlap]
            found.extend((s + base, e + base, k, c) for s, e, k, c in _all_hits(chunk, pii))
        hits = found
    else:
        hits = _all_hits(text, pii)
    return [f for f in _merge(hits) if f.confidence >= min_confidence]


def mask(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def redact(text: str, *, pii: bool = True) -> str:
    """``text`` with every finding replaced by ``[REDACTED:<kind>]`` (the whole secret, never half)."""
    if not isinstance(text, str):
        return text
    found = find_secrets(text, pii=pii)
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


def enable_redaction(store: object | None = None) -> None:
    """Make this engine the audit log's redactor (through the ``airlock.audit.set_redactor`` seam).

    ``store``: a ``KeyStore`` whose values (current and kept previous ones) are registered for
    exact-match blanking, so even a key with no recognisable format never reaches the log."""
    from .. import audit

    if store is not None:
        store.load_known_values()  # type: ignore[attr-defined]
    audit.set_redactor(redact)


def disable_redaction() -> None:
    from .. import audit

    audit.set_redactor(None)


def __getattr__(name: str) -> object:  # PEP 562: the output filter loads on first use
    if name in ("filter_output", "validate_output_safety", "filter_value", "output_hook", "enable_output_filter"):
        from . import _output

        return getattr(_output, name)
    raise AttributeError(name)
