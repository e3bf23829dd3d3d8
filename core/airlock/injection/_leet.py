"""Undo leetspeak ("1gn0r3" -> "ignore") in tokens that mix letters and digits.

The definition is ``TOKEN_RE`` plus ``_unleet_token``: a run of ``[a-z0-9]`` between word
boundaries holding a letter and a digit, left alone when it looks like hex ("0xabc", "3f4a1b")
or is longer than 20 chars (ids, hashes, wallet addresses). Numbers and prices stay numbers.

Tool output is full of such tokens ("user12", "10:05:35z", "b2"): a JSON page of 10 kB holds
hundreds, and a Python call per token cost almost 2 ms. So an ASCII text goes through the C
kernel (``_kernel.c``: one pass, about 2 us a kB) and, without it, long texts take a vectorised
path that finds the same tokens with a dozen numpy passes and rewrites their digits in one go;
tests hold both to the regex definition.
"""

from __future__ import annotations

import re
from typing import Any

from . import _kernel, _rx

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

    An ASCII text goes to the C kernel when it is built (one pass, the same rule). Otherwise prose
    holds none or a few such tokens: the accelerated search finds them. Past a handful in a long
    text (tool output), the vectorised path takes over for the whole text."""
    if text.isascii():
        done = _kernel.unleet_ascii(text)
        if done is not None:
            return done
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
_CLASS: Any = None
# per-char class bits, summed over each run from one cumulative sum: counts of digits, of letters,
# of letters past "f" (a token of hex digits is no word). Each count stays below 256 in a run of at
# most _MAX_TOKEN chars; longer runs are refused before their counts are read.
_DIGIT, _LOWER, _PAST_F, _WORD = 1, 1 << 8, 1 << 16, 1 << 24


def _tables() -> tuple[Any, Any, Any]:
    global _np, _TABLE, _CLASS
    if _np is None:
        import numpy

        table = numpy.arange(128, dtype=numpy.uint32)
        for a, b in zip(_LEET_FROM, _LEET_TO):
            table[ord(a)] = ord(b)
        cls = numpy.zeros(129, dtype=numpy.uint32)   # index 128: every non-ASCII code point (clipped)
        for c in range(128):
            ch = chr(c)
            if ch.isdigit():
                cls[c] = _DIGIT | _WORD
            elif "a" <= ch <= "z":
                cls[c] = _LOWER | (_PAST_F if ch > "f" else 0) | _WORD
            elif ch.isalnum() or ch == "_":
                cls[c] = _WORD
        _np, _TABLE, _CLASS = numpy, table, cls
    return _np, _TABLE, _CLASS


def _unleet_vector(text: str) -> str:
    """``unleet`` with numpy: the runs of ``[a-z0-9]``, their neighbours and contents as arrays."""
    np, table, classes = _tables()
    is_ascii = text.isascii()
    if is_ascii:
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(codes)
    cls = np.zeros(n + 2, dtype=np.uint32)          # a zero each side: runs end inside the array
    classes.take(codes, mode="clip", out=cls[1:n + 1])
    if not is_ascii:
        # re's \w: also the non-ASCII chars str.isalnum() accepts
        wide = [ord(c) for c in set(_rx.non_ascii(text)) if c.isalnum()]
        if wide:
            cls[1:n + 1][np.isin(codes, np.array(wide, dtype=np.uint32))] = _WORD
    tok = ((cls & (_DIGIT | _LOWER)) != 0).view(np.int8)
    edges = np.flatnonzero(tok[1:] != tok[:-1])    # run starts and ends, alternating (text positions)
    if not len(edges):
        return text
    starts, ends = edges[0::2], edges[1::2]          # runs [starts[k], ends[k]) of the text
    total = np.cumsum(cls, dtype=np.uint64)          # total[j]: the class bits of text[:j] summed
    sums = total[ends] - total[starts]
    length = ends - starts
    ok = (((cls[starts] | cls[ends + 1]) & _WORD) == 0) & (length <= _MAX_TOKEN)   # word boundaries
    ok &= ((sums & 0xFF) != 0) & ((sums & 0xFF0000) != 0)   # a digit, and a letter past "f" (so not hex)
    cand = np.flatnonzero(ok)
    if not len(cand):
        return text
    s_c = starts[cand]
    # "0x" then hex digits: the "x" is the only letter past "f"
    zero_x = ((codes[s_c] == 48) & (codes[s_c + 1] == 120) & (length[cand] >= 3)
              & ((sums[cand] & 0xFF0000) == _PAST_F))
    keep = cand[~zero_x]
    if not len(keep):
        return text
    s_ok, len_ok = starts[keep], length[keep]
    # every position of the chosen runs: 0..total-1 shifted by each run's start minus the chars before it
    before = np.cumsum(len_ok) - len_ok
    pos = np.arange(int(before[-1] + len_ok[-1])) + np.repeat(s_ok - before, len_ok)
    out = codes.copy()
    out[pos] = table[codes[pos]]                     # digits to letters; letters map to themselves
    if is_ascii:
        return out.tobytes().decode("ascii")
    return out.tobytes().decode("utf-32-le", "surrogatepass")
