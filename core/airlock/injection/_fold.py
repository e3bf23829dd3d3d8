"""Character folding: make look-alike, invisible and spaced-out text read like plain ASCII.

Attackers hide "ignore previous instructions" behind Cyrillic look-alikes,
fullwidth forms, zero-width joiners, accents or "i g n o r e". Every detector
works on the folded text, so each trick is undone once, here, instead of in
every pattern. All steps are a ``str.translate`` or one regex pass (linear).
"""

from __future__ import annotations

import unicodedata

from . import _rx
from ._leet import unleet
from ._rx import non_ascii
from ._offsets import OffsetMap, sub_tracked

__all__ = [
    "INVISIBLE_RE",
    "SUSPICIOUS_RE",
    "fold_chars",
    "collapse_letter_spacing",
    "collapse_whitespace",
    "unleet",
    "count_suspicious",
]

# Zero-width and format characters that render as nothing.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad\u034f\u115f\u1160\u3164\uffa0"
# Bidirectional controls: can make text display in a different order than it is read.
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"

INVISIBLE_RE = _rx.compile(
    f"[{_ZERO_WIDTH}{_BIDI}\ufe00-\ufe0f\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
# One pass that classifies every suspicious code point (for Views.suspicious_unicode).
SUSPICIOUS_RE = _rx.compile(
    f"(?P<zero_width>[{_ZERO_WIDTH}])"
    f"|(?P<bidi>[{_BIDI}])"
    "|(?P<tag>[\U000e0000-\U000e007f])"
    "|(?P<variation_selector>[\ufe00-\ufe0f\U000e0100-\U000e01ef])"
    "|(?P<private_use>[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd])"
)

# Letters that look like Latin ones in common fonts (Unicode confusables, the usual suspects).
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ӏ": "l", "һ": "h", "ү": "y", "ɡ": "g", "ᴦ": "r", "ь": "b", "п": "n", "г": "r", "ԍ": "g",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ї": "I", "Ј": "J", "Ӏ": "I", "Һ": "H", "Ү": "Y",
    "Ԛ": "Q", "Ԝ": "W", "Ь": "b",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "γ": "y", "ω": "w", "η": "n", "μ": "u", "ς": "s",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin look-alikes NFKD leaves alone
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i", "ʟ": "L", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e",
    "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ø": "o", "Ø": "O", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
    # punctuation look-alikes that matter to markers like <|im_start|> or [INST]
    "‹": "<", "›": ">", "〈": "<", "〉": ">", "＜": "<", "＞": ">", "ǀ": "|", "│": "|", "∣": "|",
    "‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "´": "'",
    "–": "-", "—": "-", "―": "-", "−": "-", "‐": "-", "‑": "-",
}


class _FoldTable(dict[int, str | int | None]):
    """``str.translate`` table computed lazily, one code point at a time, then cached.

    A char becomes: nothing if invisible; else its NFKD decomposition without
    combining marks (accents, enclosing circles), with look-alikes replaced. Each
    output char is chosen so that ``.lower()`` keeps the length, which lets the
    folded text be lowercased without touching the offset map.
    """

    def __init__(self) -> None:
        super().__init__((i, i) for i in range(128))
        #: code points whose replacement is not exactly one character
        self.non_unit: set[str] = set()

    def __missing__(self, cp: int) -> str | int | None:
        ch = chr(cp)
        if INVISIBLE_RE.match(ch):
            out = ""
        elif ch in _HOMOGLYPHS:
            out = _HOMOGLYPHS[ch]
        else:
            parts = []
            for c in unicodedata.normalize("NFKD", ch):
                if unicodedata.combining(c):
                    continue
                parts.append(_HOMOGLYPHS.get(c, c))
            out = "".join(parts)
            if not out and unicodedata.category(ch).startswith("M"):
                out = ""  # a lone combining mark: drop it like an accent
            elif not out:
                out = ch
            if any(len(c.lower()) != 1 for c in out):
                out = "".join(c if len(c.lower()) == 1 else "?" for c in out)
        if len(out) != 1:
            self.non_unit.add(ch)
        if len(self) < 200_000:  # bound the cache on adversarial inputs with every code point
            self[cp] = out
        return out


_TABLE = _FoldTable()
_NON_ASCII_RUN = _rx.compile(r"[^\x00-\x7f]+")


def fold_chars(text: str, na: str | None = None) -> tuple[str, OffsetMap | None]:
    """NFKD + accent stripping + homoglyph folding + invisible-char removal. Keeps case.
    ``na``: ``non_ascii(text)`` when the caller has it already."""
    if text.isascii():
        return text, None
    chars = set(non_ascii(text) if na is None else na)
    folded = _rx.translate_non_ascii(text, _TABLE, chars)
    non_unit = _TABLE.non_unit
    if len(folded) == len(text) and non_unit.isdisjoint(chars):  # ASCII chars are never in non_unit
        return folded, None  # every char mapped 1:1: offsets are unchanged
    # Some chars were deleted or expanded: redo only the non-ASCII runs, tracking offsets.
    return sub_tracked(_NON_ASCII_RUN, text, lambda m: m.group().translate(_TABLE))


# The same with the lookarounds' characters consumed, for the gate: stripped of its lookarounds the
# pattern matches "e a o" in "the a of", which ordinary prose is full of. On ASCII text a letter is
# exactly [A-Za-z]; on surrogate bytes a non-ASCII letter reads "x", a non-ASCII digit "0", and the
# separators "·" and "•" read "?" (so "?" is a separator here: a superset).
SPACED_GATE = r"(?:\A|[^A-Za-z])[A-Za-z](?:[ .\-_*?+~/|][A-Za-z]){2,}(?:[^A-Za-z]|\z)"
# "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e": at least three single letters joined by one
# separator char. Letters are matched one by one and the separator is a single char, so the
# engine never has two ways to match the same text (no backtracking blow-up).
_SPACED_RE = _rx.compile(r"(?<![^\W\d_])[^\W\d_](?:[ .\-_*·•+~/|][^\W\d_]){2,}(?![^\W\d_])",
                         gate=SPACED_GATE)
_SPACED_SEP_RE = _rx.compile(r"[ .\-_*·•+~/|]")


def collapse_letter_spacing(text: str) -> tuple[str, OffsetMap | None]:
    """Join letter-spaced words. Word gaps (two or more separators) are kept."""
    return sub_tracked(_SPACED_RE, text, lambda m: _SPACED_SEP_RE.sub("", m.group()))


# only runs that change: a lone "\n" or " " is left alone (no Python work per line)
_WS_RE = _rx.compile(r"[^\S\n]+\n\s*|\n\s+|[^\S\n]{2,}|[^\S \n]")


def collapse_whitespace(text: str) -> tuple[str, OffsetMap | None]:
    """Runs of whitespace become one space, or one newline if the run holds a line break."""
    return sub_tracked(_WS_RE, text, lambda m: "\n" if "\n" in m.group() else " ")


def count_suspicious(text: str, na: str | None = None) -> dict[str, int]:
    """How many zero-width, bidi, tag, variation-selector and private-use chars ``text`` holds.
    ``na``: ``non_ascii(text)`` when the caller has it already (every such char is non-ASCII and
    each match is one char, so counting in the extract counts the same)."""
    counts = {"zero_width": 0, "bidi": 0, "tag": 0, "variation_selector": 0, "private_use": 0}
    if text.isascii():
        return counts
    for m in SUSPICIOUS_RE.finditer(non_ascii(text) if na is None else na):
        counts[m.lastgroup or "zero_width"] += 1
    return counts
