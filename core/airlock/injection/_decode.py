"""Find and decode embedded encodings: base64/32, hex, binary, escapes, URL, HTML, rot13, atbash, reversed.

Each decoder is one regex pass over the text that proposes candidate spans, then a
bounded decode of each candidate. A candidate is kept only when its decoding looks
like natural-language text, so hashes, keys and binary blobs (which decode to
noise) are dropped. The caller passes a byte budget; decoding stops when it is spent.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from . import _rx
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from ._rx import non_ascii

__all__ = ["Candidate", "Budget", "find_encoded", "find_transformed", "looks_like_text", "decode_tags"]


@dataclass(slots=True)
class Candidate:
    """A decoded span of the scanned string (``start``/``end`` index that string)."""

    start: int
    end: int
    encoding: str
    text: str


class Budget:
    """How many decoded characters and segments may still be produced (shared across recursion)."""

    __slots__ = ("chars", "items")

    def __init__(self, chars: int, items: int = 64) -> None:
        self.chars = chars
        self.items = items

    def take(self, n: int) -> bool:
        if self.items <= 0 or n > self.chars:
            return False
        self.chars -= n
        self.items -= 1
        return True


_BAD_CHARS_RE = _rx.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_LETTER_OR_SPACE_RE = _rx.compile(r"[^\W\d_]|\s")
_MAX_CANDIDATE = 200_000  # longest single encoded span we try to decode


def looks_like_text(s: str, *, min_len: int = 6) -> bool:
    """True when ``s`` reads like language: printable, mostly letters and spaces."""
    n = len(s)
    if n < min_len:
        return False
    if len(_BAD_CHARS_RE.findall(s)) > n * 0.02:
        return False
    if len(_LETTER_OR_SPACE_RE.findall(s)) < n * 0.65:
        return False
    return any(c in s for c in "aeiouAEIOU")


def _bytes_to_text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _dec_base64(s: str) -> str | None:
    if s.islower() or s.isupper() or s.isdigit():
        return None  # a word, a base32 blob or a number, not base64 of text
    t = s.rstrip("=").replace("-", "+").replace("_", "/")
    t = t[: len(t) - (len(t) % 4 == 1)]
    try:
        raw = base64.b64decode(t + "=" * (-len(t) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _bytes_to_text(raw)


def _dec_base32(s: str) -> str | None:
    t = s.rstrip("=")
    t = t[: len(t) - len(t) % 8] if len(t) % 8 in (1, 3, 6) else t
    try:
        raw = base64.b32decode(t + "=" * (-len(t) % 8), casefold=True)
    except (binascii.Error, ValueError):
        return None
    return _bytes_to_text(raw)


_HEX_SEP_RE = _rx.compile(r"0x|\\x|[\s:,\-]")


def _dec_hex(s: str) -> str | None:
    t = _HEX_SEP_RE.sub("", s)
    if len(t) % 2:
        t = t[:-1]
    try:
        return _bytes_to_text(bytes.fromhex(t))
    except ValueError:
        return None


_BITS_RE = _rx.compile(r"[01]{8}")


def _dec_binary(s: str) -> str | None:
    return _bytes_to_text(bytes(int(b, 2) for b in _BITS_RE.findall(s)))


_ESC_RE = _rx.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\x([0-9a-fA-F]{2})")


def _dec_escapes(s: str) -> str | None:
    def one(m: re.Match[str]) -> str:
        cp = int(m.group(1) or m.group(2) or m.group(3), 16)
        return chr(cp) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else "\ufffd"

    return _ESC_RE.sub(one, s)


def _dec_url(s: str) -> str | None:
    return unquote_plus(s) if "+" in s and "%20" not in s else unquote(s)


def _dec_html(s: str) -> str | None:
    return html.unescape(s)


_MORSE = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h",
    "..": "i", ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p",
    "--.-": "q", ".-.": "r", "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x",
    "-.--": "y", "--..": "z", "-----": "0", ".----": "1", "..---": "2", "...--": "3", "....-": "4",
    ".....": "5", "-....": "6", "--...": "7", "---..": "8", "----.": "9",
}
_MORSE_WORD_RE = _rx.compile(r"\s*/\s*|\s{2,}")


def _dec_morse(s: str) -> str | None:
    words = _MORSE_WORD_RE.split(s.strip())
    return " ".join("".join(_MORSE.get(c, "?") for c in w.split()) for w in words)


# (encoding, candidate regex, decoder). Every regex is a run of one char class with fixed-width
# steps and boundary look-arounds, so candidates are maximal runs found in one linear pass.
_DECODERS = [
    ("base64", _rx.compile(r"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/_\-]{16,}={0,2}(?![A-Za-z0-9+/=_\-])"), _dec_base64),
    ("base32", _rx.compile(r"(?<![A-Za-z0-9=])[A-Z2-7]{16,}={0,6}(?![A-Za-z0-9=])"), _dec_base32),
    ("hex", _rx.compile(r"(?<![0-9A-Za-z])(?:0x)?(?:[0-9a-fA-F]{2}){8,}(?![0-9A-Za-z])"), _dec_hex),
    ("hex", _rx.compile(r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{2}[ :,\-]){7,}[0-9a-fA-F]{2}(?![0-9A-Za-z])"), _dec_hex),
    ("hex", _rx.compile(r"(?:\\x[0-9a-fA-F]{2}){6,}"), _dec_hex),
    ("binary", _rx.compile(r"(?<![01])(?:[01]{8}[ ,]?){4,}(?![01])"), _dec_binary),
    ("unicode_escape", _rx.compile(r"(?:(?:\\u[0-9a-fA-F]{4}|\\U[0-9a-fA-F]{8}|\\x[0-9a-fA-F]{2}) ?){4,}"),
     _dec_escapes),
    ("url", _rx.compile(r"(?:%[0-9a-fA-F]{2}[^\s%]*){3,}"), _dec_url),
    ("html_entity", _rx.compile(r"(?:&#(?:[0-9]{1,7}|[xX][0-9a-fA-F]{1,6});\s?){4,}"), _dec_html),
    ("morse", _rx.compile(r"(?<![\w.\-])(?:[.\-]{1,6}(?: / | |/)){5,}[.\-]{1,6}(?![\w.\-])"), _dec_morse),
]
_TOKEN_START_RE = _rx.compile(r"\S{0,64}\Z")


# Cheap necessary conditions, checked with bytes.translate + a substring search (C speed):
# base64, base32 and unseparated hex need a run of 16 base64-alphabet chars, binary one of 8 bits.
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_RUN_TABLE = bytes(ord("a") if bytes([i]) in _B64_ALPHABET and i < 128 else ord(" ") for i in range(256))
_BIT_TABLE = bytes(ord("b") if i in (ord("0"), ord("1")) else ord(" ") for i in range(256))
_NEEDS_RUN = {"base64": (_RUN_TABLE, b"a" * 16), "base32": (_RUN_TABLE, b"a" * 16),
              "binary": (_BIT_TABLE, b"b" * 8)}


def find_encoded(plain: str, budget: Budget) -> list[Candidate]:
    """Spans of ``plain`` (case-preserving text) that decode to natural-language text."""
    out: list[Candidate] = []
    raw = plain.encode("ascii", "replace")
    present = {name: need in raw.translate(table) for name, (table, need) in _NEEDS_RUN.items()
               if name != "base32"}
    present["base32"] = present["base64"]
    first_hex = True
    for encoding, rx, decode in _DECODERS:
        if encoding in present and not present[encoding]:
            continue
        if encoding == "hex" and first_hex:
            first_hex = False
            if not present["base64"]:
                continue  # "(0x)?(hh){8,}" is a 16-char run of the alphabet too
        if encoding == "url" and "%" not in plain:
            continue
        if encoding == "html_entity" and "&#" not in plain:
            continue
        if encoding == "unicode_escape" and "\\" not in plain:
            continue
        for m in rx.finditer(plain):
            a, b = m.span()
            if b - a > _MAX_CANDIDATE:
                continue
            if encoding == "url":  # include the plain word the first escape is glued to
                pre = _TOKEN_START_RE.search(plain, max(0, a - 64), a)
                if pre:
                    a = pre.start()
            text = decode(plain[a:b])
            if not text or not looks_like_text(text):
                continue
            if text == plain[a:b]:
                continue
            if not budget.take(len(text)):
                return out
            out.append(Candidate(a, b, encoding, text))
    return out


# --- rot13 / atbash / reversed: no alphabet tells them apart, so look for common English
# words as they appear after the transform ("the" -> "gur" in rot13, "eht" reversed).
_COMMON = (
    "the and of to in is you that it for on with as are this be at or your have from by not all what "
    "how can will an if do me my we was but about please any tell write give make use provide "
    "instructions ignore previous following print say now new must should would there their which "
    "when then just only also into like than them these those been were has had its our out who"
).split()
_COMMON_SET = frozenset(_COMMON)
_ROT13 = str.maketrans("abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm")
_ATBASH = str.maketrans("abcdefghijklmnopqrstuvwxyz", "zyxwvutsrqponmlkjihgfedcba")
# words too often real in their transformed form ("or" <-> "be", "on" reversed is "no")
_AMBIGUOUS = _COMMON_SET | {"era", "saw", "tub", "won", "zoo", "na", "si", "ni", "ti", "ot", "ti", "yb", "dna", "ton"}


def _transformed(fn: "callable[[str], str]") -> str:  # type: ignore[valid-type]
    words = sorted({fn(w) for w in _COMMON if len(w) >= 2} - _AMBIGUOUS, key=len, reverse=True)
    return "|".join(words)


_TRANSFORM_RE = _rx.compile(
    r"\b(?:(?P<rot13>" + _transformed(lambda w: w.translate(_ROT13)) + ")"
    r"|(?P<atbash>" + _transformed(lambda w: w.translate(_ATBASH)) + ")"
    r"|(?P<reverse>" + _transformed(lambda w: w[::-1]) + r"))\b"
)
_WORD_RE = _rx.compile(r"[a-z]+")
_TRANSFORMS = {
    "rot13": lambda s: s.translate(_ROT13),
    "atbash": lambda s: s.translate(_ATBASH),
    "reverse": lambda s: s[::-1],
}


def _common_ratio(s: str) -> float:
    words = _WORD_RE.findall(s)
    if not words:
        return 0.0
    return sum(1 for w in words if w in _COMMON_SET) / len(words)


def find_transformed(folded: str, budget: Budget) -> list[Candidate]:
    """Lines of ``folded`` (lowercase) that read as English after rot13, atbash or reversal."""
    per_line: dict[tuple[int, str], set[str]] = {}
    line_start = line_end = -1
    for m in _TRANSFORM_RE.finditer(folded):
        p = m.start()
        if not line_start <= p < line_end:
            line_start = folded.rfind("\n", 0, p) + 1
            line_end = folded.find("\n", p)
            if line_end < 0:
                line_end = len(folded)
        kind = m.lastgroup or "rot13"
        per_line.setdefault((line_start, kind), set()).add(m.group())
    out: list[Candidate] = []
    for (start, kind), words in per_line.items():
        if len(words) < 3:
            continue
        end = folded.find("\n", start)
        end = len(folded) if end < 0 else end
        if end - start > _MAX_CANDIDATE:
            continue
        line = folded[start:end]
        decoded = _TRANSFORMS[kind](line)
        if _common_ratio(decoded) < max(0.2, _common_ratio(line) + 0.1):
            continue
        if not budget.take(len(decoded)):
            break
        out.append(Candidate(start, end, kind, decoded))
    return out


_TAG_RUN_RE = _rx.compile("[\U000e0020-\U000e007e]{2,}")
_TAG_CHAR_RE = re.compile("[\U000e0020-\U000e007e]")


def decode_tags(text: str, budget: Budget, na: str | None = None) -> list[Candidate]:
    """Unicode tag characters (U+E0020..E007E) spell invisible ASCII: 'ASCII smuggling'.
    ``na``: ``non_ascii(text)`` when the caller has it already."""
    out: list[Candidate] = []
    if text.isascii() or not _TAG_CHAR_RE.search(non_ascii(text) if na is None else na):  # tag chars are non-ASCII
        return out
    for m in _TAG_RUN_RE.finditer(text):
        decoded = "".join(chr(ord(c) - 0xE0000) for c in m.group())
        if budget.take(len(decoded)):
            out.append(Candidate(m.start(), m.end(), "unicode_tags", decoded))
    return out
