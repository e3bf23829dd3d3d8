"""Undo leetspeak ("1gn0r3" -> "ignore") in tokens that mix letters and digits.

The definition is ``TOKEN_RE`` plus ``_unleet_token``: a run of ``[a-z0-9]`` between word
boundaries holding a letter and a digit, left alone when it looks like hex ("0xabc", "3f4a1b")
or is longer than 20 chars (ids, hashes, wallet addresses). Numbers and prices stay numbers.

Tool output is full of such tokens ("user12", "10:05:35z", "b2"): a JSON page of 10 kB holds
hundreds, and a Python call per token cost almost 2 ms. So long texts take a vectorised path
that finds the same tokens with a dozen numpy passes and rewrites their digits in one go;
a test holds it to the regex definition.
"""

from __future__ import annotations

import re
from typing import Any

from . import _rx

__all__ = ["unleet", "TOKEN_RE"]

_LEET_FROM, _LEET_TO = "01345789", "oieastbg"
_LEET = str.maketrans(_LEET_FROM, _LEET_TO)
# written without lookarounds so the RE2 prefilter is exact; the exceptions are checked per token
TOKEN_RE = _rx.compile(r"\b(?:[a-z]+[0-9]|[0-9]+[a-z])[a-z0-9]*\b")
_HEX_TOKEN_RE = re.compile(r"(?:0x)?[0-9a-f]+")
_MAX_TOKEN = 20
#: from this length on, and past this many tokens, the vectorised path is cheaper than a regex
#: search and a call per token
_VECTOR_MIN = 2048
_FEW_TOKENS = 16


def _unleet_token(m: re.Match[str]) -> str:
    tok = m.group()
    if len(tok) > _MAX_TOKEN or _HEX_TOKEN_RE.fullmatch(tok):
        return tok  # addresses, hashes and wallet ids, never words
    return tok.translate(_LEET)


def unleet(text: str) -> str:
    """``text`` with the digits of its leet tokens turned into letters (1:1: offsets unchanged).

    Prose holds none or a few such tokens: the accelerated search finds them. Past a handful in a
    long text (tool output), the vectorised path takes over for the whole text."""
    if len(text) < _VECTOR_MIN:
        return TOKEN_RE.sub(_unleet_token, text)
    found: list[re.Match[str]] = []
    for m in TOKEN_RE.finditer(text):
        if len(found) == _FEW_TOKENS:
            return _unleet_vector(text)
        found.append(m)
    return _rx.splice(text, found, _unleet_token) if found else text  # (tokens are never empty)


_np: Any = None
_TABLE: Any = None


def _unleet_vector(text: str) -> str:
    """``unleet`` with numpy: the runs of ``[a-z0-9]``, their neighbours and contents as arrays."""
    global _np, _TABLE
    if _np is None:
        import numpy

        table = numpy.arange(128, dtype=numpy.uint32)
        for a, b in zip(_LEET_FROM, _LEET_TO):
            table[ord(a)] = ord(b)
        _np, _TABLE = numpy, table
    np = _np
    is_ascii = text.isascii()
    if is_ascii:
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(codes)
    lower = (codes >= 97) & (codes <= 122)
    digit = (codes >= 48) & (codes <= 57)
    tok = lower | digit
    edge = np.diff(np.concatenate(([False], tok, [False])).astype(np.int8))
    starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)  # runs [starts[k], ends[k])
    if not len(starts):
        return text
    # re's \w: ASCII letters, digits, "_", and the non-ASCII chars str.isalnum() accepts
    word = tok | ((codes >= 65) & (codes <= 90)) | (codes == 95)
    if not is_ascii:
        wide = [ord(c) for c in set(_rx.non_ascii(text)) if c.isalnum()]
        if wide:
            word |= np.isin(codes, np.array(wide, dtype=np.uint32))
    ok = np.ones(len(starts), dtype=bool)
    inner = starts > 0
    ok[inner] &= ~word[starts[inner] - 1]          # a word boundary before the run
    inner = ends < n
    ok[inner] &= ~word[ends[inner]]                 # and after it
    length = ends - starts
    ok &= length <= _MAX_TOKEN

    def count(flags: Any) -> Any:
        c = np.concatenate(([0], np.cumsum(flags)))
        return c[ends] - c[starts]

    past_f = count(lower & (codes >= 103))          # letters g..z: not hex
    ok &= (count(lower) > 0) & (count(digit) > 0)
    second = codes[np.minimum(starts + 1, n - 1)]
    zero_x = (length >= 3) & (codes[starts] == 48) & (second == 120) & (past_f == 1)
    ok &= (past_f > 0) & ~zero_x                    # not (0x)?[0-9a-f]+
    if not ok.any():
        return text
    mark = np.zeros(n + 1, dtype=np.int32)
    mark[starts[ok]] += 1
    mark[ends[ok]] -= 1
    change = (np.cumsum(mark[:n]) > 0) & digit
    if not change.any():
        return text
    out = codes.copy()
    out[change] = _TABLE[codes[change]]
    if is_ascii:
        return out.tobytes().decode("ascii")
    return out.tobytes().decode("utf-32-le", "surrogatepass")
