"""Shared machinery for the heuristic detectors: finding construction and word-window pairing.

The detectors look for *classes* of words near each other (an override verb near
an instruction noun, a transfer verb near an amount and a destination) rather
than for whole phrases. One compiled alternation per class pair is scanned over
the folded text in C; Python only touches the (few) hits, pairing each with the
last hit of the other class when the words between them are few and contain no
sentence break. That keeps every check linear in the text length.
"""

from __future__ import annotations

import re
from . import _rx
from collections.abc import Iterable, Iterator

from ..threat import Finding, Severity
from ._fold import INVISIBLE_RE
from .normalize import Segment, Views

__all__ = [
    "EVIDENCE_CHARS",
    "alt",
    "finding",
    "pairs",
    "gap_ok",
    "is_howto",
    "sentence_start",
]

EVIDENCE_CHARS = 120

# plain re: they only ever read a short gap between two hits, where the accelerator's set-up
# would cost more than the search (see ``gap_ok``)
_BREAK_RE = re.compile(r"[.!?;]\s|[\n|]")
_WORDS_RE = re.compile(r"[^\W_]+")


def alt(words: Iterable[str]) -> str:
    """A non-capturing alternation of phrases (already regex source), longest first."""
    ws = sorted(set(words), key=len, reverse=True)
    return "(?:" + "|".join(ws) + ")"


def gap_ok(folded: str, a_end: int, b_start: int, max_words: int, max_chars: int | None = None) -> bool:
    """True when at most ``max_words`` words and no sentence break separate two hits."""
    if b_start < a_end:
        return False
    if max_chars is None:
        max_chars = 12 * max_words + 8
    if b_start - a_end > max_chars:
        return False
    # searched in place: pos/endpos read exactly the slice, as neither pattern looks around
    if _BREAK_RE.search(folded, a_end, b_start):
        return False
    return len(_WORDS_RE.findall(folded, a_end, b_start)) <= max_words


def pairs(rx: re.Pattern[str], folded: str, first: str, second: str, max_words: int,
          reverse: str | None = None) -> Iterator[tuple[int, int]]:
    """Spans where a ``first``-group hit is followed by a ``second``-group hit within the window.

    ``rx`` has named groups; ``reverse`` names a group that pairs with a *preceding*
    ``second`` hit (passive forms: "the rules above no longer apply").
    """
    last_first: tuple[int, int] | None = None
    last_second: tuple[int, int] | None = None
    for m in rx.finditer(folded):
        g = m.lastgroup
        s, e = m.span()
        if g == first:
            last_first = (s, e)
        elif g == second:
            if last_first is not None and gap_ok(folded, last_first[1], s, max_words):
                yield last_first[0], e
                last_first = None
            last_second = (s, e)
        elif reverse is not None and g == reverse:
            if last_second is not None and gap_ok(folded, last_second[1], s, max_words):
                yield last_second[0], e
                last_second = None


_HOWTO_RE = _rx.compile(
    r"\b(?:how (?:do|can|could|would|should|might) (?:i|we|you|one)|how to|should (?:i|we)|can (?:i|we)|"
    r"could (?:i|we)|is it (?:safe|possible|ok|okay|wise|a good idea) to|what(?:'s| is) the (?:best|easiest|"
    r"fastest|safest|right|proper|correct) way to|explain how|steps to|ways to|i (?:want|need|would like|'d like) to|"
    r"help me|teach me|tips for|when should)\b"
)
_SENT_START_RE = _rx.compile(r"[.!?]\s|\n")


def sentence_start(folded: str, pos: int, max_back: int = 120) -> int:
    """Start of the sentence holding ``pos`` (looking back at most ``max_back`` chars)."""
    lo = max(0, pos - max_back)
    start = lo
    for m in _SENT_START_RE.finditer(folded, lo, pos):
        start = m.end()
    return start


def is_howto(folded: str, pos: int) -> bool:
    """The match sits in a first-person how-to question ("how do I drop ..."), not an order to the agent."""
    return _HOWTO_RE.search(folded, sentence_start(folded, pos), pos) is not None


# three or more *single* letters joined by separators ("i g n o r e"), not "data a was"
_SPACED_TRICK_RE = _rx.compile(r"(?<![^\W\d_])[^\W\d_](?:[ .\-_*][^\W\d_]){2,}(?![^\W\d_])")
_MIXED_RE = _rx.compile(r"[A-Za-z][\u0370-\u03ff\u0400-\u04ff]|[\u0370-\u03ff\u0400-\u04ff][A-Za-z]")
_DIGIT_RE = _rx.compile(r"[a-zA-Z][0-9]|[0-9][a-zA-Z]")


def _obfuscation(views: Views, orig: str) -> str:
    """Which folding trick hid this span in the original, if any."""
    if not views.obfuscation:
        return ""
    if not orig.isascii():
        if INVISIBLE_RE.search(orig):
            return "zero_width"
        if _MIXED_RE.search(orig):
            return "homoglyph"
        if any("\uff01" <= c <= "\uff5e" for c in orig):
            return "fullwidth"
    if "letter_spacing" in views.obfuscation and _SPACED_TRICK_RE.search(orig):
        return "letter_spacing"
    if "leet" in views.obfuscation and _DIGIT_RE.search(orig):
        return "leet"
    return ""


def finding(views: Views, seg: Segment, check: str, fs: int, fe: int, severity: Severity,
            detail: str = "", score: float | None = None) -> Finding:
    """A finding for folded span ``[fs, fe)`` of ``seg``, with original offsets and a short excerpt."""
    start, end = seg.span(fs, fe)
    text = views.text
    if seg.decoded_from:
        # evidence: what the decoded text said, labelled; offsets: the encoded span
        evidence = seg.folded[fs:fe]
        decoded_from = seg.decoded_from
    else:
        evidence = text[start:end]
        decoded_from = _obfuscation(views, evidence)
    evidence = " ".join(evidence.split())
    if len(evidence) > EVIDENCE_CHARS:
        evidence = evidence[: EVIDENCE_CHARS - 3] + "..."
    if score is None:
        score = 1.0 if severity is Severity.DANGEROUS else 0.5 if severity is Severity.MODERATE else 0.0
    return Finding(check=check, start=start, end=end, evidence=evidence, severity=severity,
                   score=score, decoded_from=decoded_from, detail=detail)
