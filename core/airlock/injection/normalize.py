"""Normalized views of one text: what every injection detector reads.

``normalize(text)`` returns a :class:`Views`: the original text, a *folded* copy
(look-alikes, invisible characters, accents, letter spacing, leetspeak and case
undone, whitespace collapsed) with an offset map back to the original, and the
*decoded* segments (base64, hex, URL, rot13, ...) found inside it, each normalized
and decoded again up to ``max_decode_depth``. Detectors match the folded and
decoded texts and report offsets in the original, so a user sees the real span.

Everything here is linear in the input: one ``str.translate``, a few regex passes,
and decoding bounded by a budget of ``4 x len(text)`` characters.
"""

from __future__ import annotations

import re
from . import _rx
from dataclasses import dataclass, field
from typing import Any, Iterator

from ._decode import Budget, Candidate, decode_tags, find_encoded, find_transformed
from ._fold import INVISIBLE_RE, collapse_letter_spacing, collapse_whitespace, count_suspicious, fold_chars, unleet
from ._rx import non_ascii
from ._offsets import OffsetMap

__all__ = ["normalize", "Views", "Decoded", "Segment", "OffsetMap"]

#: decoded text may be at most this many times the input (and at most this many chars overall)
DECODE_BUDGET_FACTOR = 4
DECODE_BUDGET_MAX = 4_000_000
_MIN_DECODE_BUDGET = 4096
# a Latin letter glued to a Greek/Cyrillic one: the signature of a look-alike substitution
_MIXED_SCRIPT_RE = _rx.compile(r"[A-Za-z][\u0370-\u03ff\u0400-\u04ff]|[\u0370-\u03ff\u0400-\u04ff][A-Za-z]")
_FULLWIDTH_RE = _rx.compile(r"[\uff01-\uff5e]")
_GREEK_CYRILLIC_RE = _rx.compile(r"[\u0370-\u03ff\u0400-\u04ff]")


@dataclass(frozen=True, slots=True)
class Decoded:
    """Text found by decoding a span of the original.

    ``start``/``end`` index the *original* text (the outermost encoded span for
    nested encodings); ``encoding`` is the chain, outermost first
    (``"base64>rot13"``); ``text`` the decoded string and ``folded`` its
    normalized form, which detectors match.
    """

    start: int
    end: int
    encoding: str
    text: str
    folded: str


@dataclass(frozen=True, slots=True)
class Segment:
    """One text a detector should match: the folded original or one decoded segment.

    ``span(fs, fe)`` turns folded offsets into original offsets: exact for the
    original text, the whole encoded span for decoded text.
    """

    folded: str
    decoded_from: str
    offsets: OffsetMap | None
    start: int = 0
    end: int = 0
    index: int = 0

    def span(self, fs: int, fe: int) -> tuple[int, int]:
        if self.offsets is None:
            return self.start, self.end
        return self.offsets.span(fs, fe)


@dataclass(slots=True)
class Views:
    """Everything a detector (heuristic or learned) needs about one text.

    ``text`` the original; ``plain`` the char-folded text with case kept (what the
    decoders read); ``folded`` the fully normalized text; ``offsets`` maps folded
    indices to original ones; ``decoded`` the decoded segments;
    ``suspicious_unicode`` counts of zero-width, bidi, tag, variation-selector and
    private-use characters; ``obfuscation`` the tricks undone while folding
    (``homoglyph``, ``letter_spacing``, ``leet``, ``invisible``); ``source`` where
    the text came from (``user``, ``tool_input``, ``tool_output``, ``document``).
    """

    text: str
    plain: str
    folded: str
    offsets: OffsetMap
    decoded: list[Decoded] = field(default_factory=list)
    suspicious_unicode: dict[str, int] = field(default_factory=dict)
    obfuscation: frozenset[str] = frozenset()
    source: str = "user"
    plain_offsets: OffsetMap | None = None
    #: per-scan memo shared by detectors (lexicon hits ...); not part of the value
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def segments(self) -> tuple[Segment, ...]:
        """The folded original first, then every decoded segment.

        Built once and kept in ``cache``: every detector asks, and a frozen dataclass costs
        about 2 us to build. Rebuilt if the fields they come from were replaced since."""
        decoded = tuple(self.decoded)
        hit = self.cache.get("segments")
        if (hit is not None and hit[0] is self.folded and hit[1] is self.offsets and hit[2] == len(self.text)
                and len(hit[3]) == len(decoded) and all(a is b for a, b in zip(hit[3], decoded))):
            return hit[4]
        segs = (Segment(self.folded, "", self.offsets, 0, len(self.text), 0),) + tuple(
            Segment(d.folded, d.encoding, None, d.start, d.end, i) for i, d in enumerate(decoded, 1))
        self.cache["segments"] = (self.folded, self.offsets, len(self.text), decoded, segs)
        return segs

    @property
    def decoded_texts(self) -> list[str]:
        return [d.text for d in self.decoded]


def _fold(text: str, na: str | None = None) -> tuple[str, str, OffsetMap, OffsetMap | None, frozenset[str]]:
    """(plain, folded, folded->original map, plain->original map, tricks undone).
    ``na``: ``non_ascii(text)`` when the caller has it already."""
    tricks: set[str] = set()
    if na is None:
        na = "" if text.isascii() else non_ascii(text)
    plain, m1 = fold_chars(text, na)
    if na:  # one-char classes: present in the text iff present among its non-ASCII chars
        if INVISIBLE_RE.search(na):
            tricks.add("invisible")
        if _GREEK_CYRILLIC_RE.search(na) and _MIXED_SCRIPT_RE.search(text):
            tricks.add("homoglyph")
        if _FULLWIDTH_RE.search(na):
            tricks.add("fullwidth")
    spaced, m2 = collapse_letter_spacing(plain)
    if m2 is not None:
        tricks.add("letter_spacing")
    ws, m3 = collapse_whitespace(spaced)
    lowered = ws.lower()
    folded = unleet(lowered)
    if folded is not lowered and folded != lowered:
        tricks.add("leet")
    # compose: folded -> ws (m3) -> spaced (m2) -> plain (m1) -> text
    chain: OffsetMap | None = m1
    if m2 is not None:
        chain = m2 if chain is None else m2.chain(chain)
    if m3 is not None:
        chain = m3 if chain is None else m3.chain(chain)
    offsets = chain if chain is not None else OffsetMap.identity(len(text))
    if len(offsets) != len(folded):  # defensive: never hand out a map of the wrong size
        offsets = OffsetMap([0], [0], len(folded), len(text))
    return plain, folded, offsets, m1, frozenset(tricks)


def _candidates(text: str, plain: str, folded: str, budget: Budget, na: str | None = None) -> list[Candidate]:
    return decode_tags(text, budget, na) + find_encoded(plain, budget) + find_transformed(folded, budget)


def _expand(cands: list[Candidate], depth: int, budget: Budget, seen: set[str]) -> Iterator[tuple[Candidate, str]]:
    """Yield (candidate, folded text) and, while depth allows, what decoding it again finds."""
    for c in cands:
        if c.text in seen:
            continue
        seen.add(c.text)
        plain, folded, _, _, _ = _fold(c.text)
        yield c, folded
        if depth > 1:
            inner = _candidates(c.text, plain, folded, budget)
            for ic, ifolded in _expand(inner, depth - 1, budget, seen):
                # nested spans are reported as the outer encoded span
                yield Candidate(c.start, c.end, f"{c.encoding}>{ic.encoding}", ic.text), ifolded


def normalize(text: str, *, max_decode_depth: int = 2, source: str = "user") -> Views:
    """Fold ``text`` and decode what is encoded inside it (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"normalize() needs a str, got {type(text).__name__}")
    na = "" if text.isascii() else non_ascii(text)  # read by three checks below: extracted once
    plain, folded, offsets, plain_map, tricks = _fold(text, na)
    decoded: list[Decoded] = []
    if max_decode_depth > 0 and text:
        budget = Budget(min(DECODE_BUDGET_MAX, max(_MIN_DECODE_BUDGET, DECODE_BUDGET_FACTOR * len(text))))
        raw = _candidates(text, plain, folded, budget, na)
        # candidate spans index text / plain / folded; bring them all to original offsets
        fixed: list[Candidate] = []
        for c in raw:
            if c.encoding == "unicode_tags":
                fixed.append(c)
            elif c.encoding in ("rot13", "atbash", "reverse"):
                s, e = offsets.span(c.start, c.end)
                fixed.append(Candidate(s, e, c.encoding, c.text))
            else:
                s, e = plain_map.span(c.start, c.end) if plain_map is not None else (c.start, c.end)
                fixed.append(Candidate(s, e, c.encoding, c.text))
        for c, cfolded in _expand(fixed, max_decode_depth, budget, set()):
            decoded.append(Decoded(c.start, c.end, c.encoding, c.text, cfolded))
    return Views(
        text=text,
        plain=plain,
        folded=folded,
        offsets=offsets,
        decoded=decoded,
        suspicious_unicode=count_suspicious(text, na),
        obfuscation=tricks,
        source=source,
        plain_offsets=plain_map,
    )
