"""Hashed n-gram features for the learned injection detector, shared by training and inference.

Training (``airlock.injection.train``) and the run-time detector
(``airlock.injection.learned``) both call :func:`feature_text` and
:func:`extract`, so the model sees at run time exactly the features it was
trained on. Everything is vectorized numpy over the code points of the text:

* the text is the scanner's *folded* view (look-alikes, leetspeak, letter
  spacing, case and whitespace undone) followed by every *decoded* segment
  (base64, hex, rot13 ...), so obfuscation and encodings map onto the same
  n-grams as the plain attack;
* character n-grams (``char_ngrams``, across word boundaries) and word n-grams
  (``word_ngrams``) are hashed with a polynomial hash mod 2**64 and a final
  mix into ``2**bits`` buckets: no vocabulary, no Python loop per n-gram;
* each n-gram keeps its character position, so a linear model can score any
  window of the text from prefix sums in O(n) (see ``learned.py``).

A feature's value is ``count / sqrt(n_family)``: per family (chars, words) the
counts are scaled by the square root of the number of n-grams of that family in
the scored span. That is an L2-like length normalization computable from prefix
sums, so whole-text (training) and window (inference) scores use one formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FeatureSpec", "Families", "feature_text", "extract", "vectorize", "MAX_DECODED_CHARS"]

#: decoded segments beyond this many characters (total) are not featurized
MAX_DECODED_CHARS = 20_000
_SEP = "\n"

_M64 = (1 << 64) - 1
_P_INT = 0x100000001B3                   # FNV-64 prime: odd, so the hash is a bijection per position
#: P**k mod 2**64 as numpy scalars (precomputed: scalar uint64 overflow would warn at run time)
_PK = [np.uint64(pow(_P_INT, k, 1 << 64)) for k in range(16)]
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)   # splitmix64 finalizer constants
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
#: per n-gram kind salts (char n-grams of order k, word n-grams of order k), distinct odd constants
_CHAR_SALT = [np.uint64((0x9E3779B97F4A7C15 * (k + 1)) & _M64) for k in range(16)]
_WORD_SALT = [np.uint64((0x9E3779B97F4A7C15 * (k + 17)) & _M64) for k in range(16)]
_BIGRAM_K = np.uint64(0xD6E8FEB86659FD93)
_LEN_K = np.uint64(0x94D049BB133111EB)

# ASCII letters and digits are word characters; every non-ASCII code point counts as a letter
# (after folding, what is left outside ASCII is mostly letters of other scripts).
_WORD_ASCII = np.zeros(128, dtype=bool)
for _c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
    _WORD_ASCII[ord(_c)] = True
_WORD_TABLE = np.append(_WORD_ASCII, True)   # index 128 stands for every non-ASCII code point
_U128 = np.uint64(128)


@dataclass(frozen=True)
class FeatureSpec:
    """What to hash. Stored with the model so inference rebuilds the same features."""

    bits: int = 18
    char_ngrams: tuple[int, ...] = (3, 4, 5)
    word_ngrams: tuple[int, ...] = (1, 2)
    #: 1: splitmix64 buckets. 2: multiplicative buckets (cheaper), and a char n-gram lying inside a
    #: run of one repeated character goes to the null bucket: a 70-character "=====" line in a source
    #: file counts like a short one instead of outweighing everything else in its window.
    version: int = 2

    @property
    def dim(self) -> int:
        return 1 << self.bits

    @property
    def null_bucket(self) -> int:
        """Where version 2 puts n-grams that carry nothing; its weight is kept at zero."""
        return self.dim - 1

    def to_array(self) -> np.ndarray:
        """A small int array for the .npz file (version 1 files end before the version)."""
        tail = [self.version] if self.version != 1 else []
        return np.array([self.bits, len(self.char_ngrams), *self.char_ngrams,
                         len(self.word_ngrams), *self.word_ngrams, *tail], dtype=np.int64)

    @classmethod
    def from_array(cls, a: np.ndarray) -> "FeatureSpec":
        v = [int(x) for x in a]
        nc = v[1]
        chars = tuple(v[2:2 + nc])
        nw = v[2 + nc]
        words = tuple(v[3 + nc:3 + nc + nw])
        rest = v[3 + nc + nw:]
        version = rest[0] if rest else 1
        if version not in (1, 2):
            raise ValueError(f"feature version {version} is newer than this Airlock; retrain or upgrade")
        return cls(bits=v[0], char_ngrams=chars, word_ngrams=words, version=version)


@dataclass(frozen=True)
class Families:
    """Bucket indices and start positions of every n-gram, per family and order.

    ``chars[k]`` / ``words[k]`` is ``(idx, pos)`` for the k-th configured order;
    positions within one order are strictly increasing (one n-gram per start).
    """

    chars: list[tuple[np.ndarray, np.ndarray]]
    words: list[tuple[np.ndarray, np.ndarray]]

    @property
    def n_chars(self) -> int:
        return sum(len(i) for i, _ in self.chars)

    @property
    def n_words(self) -> int:
        return sum(len(i) for i, _ in self.words)


def feature_text(views: Any, max_decoded: int = MAX_DECODED_CHARS) -> tuple[str, list[tuple[int, int, Any]]]:
    """The string the model reads: the folded text, then each decoded segment on its own line.

    Also returns where each decoded segment sits in that string, as ``(start, end, decoded)``,
    so a window can be traced back to the encoded span of the original.
    """
    folded: str = views.folded
    parts = [folded]
    spans: list[tuple[int, int, Any]] = []
    pos = len(folded)
    budget = max_decoded
    for d in getattr(views, "decoded", ()) or ():
        if budget <= 0:
            break
        t = d.folded[:budget]
        budget -= len(t)
        parts.append(t)
        spans.append((pos + len(_SEP), pos + len(_SEP) + len(t), d))
        pos += len(_SEP) + len(t)
    return _SEP.join(parts), spans


_FIB = np.uint64(0x9E3779B97F4A7C15)    # 2**64 / golden ratio, odd


def _mix(x: np.ndarray, bits: int, version: int = 2) -> np.ndarray:
    """The top ``bits`` bits of a mixed hash as the bucket (array ops wrap silently).

    Version 2 multiplies by an odd constant (Fibonacci hashing: the top bits depend on every bit of
    the input); version 1 runs the full splitmix64 finalizer. Works in place: callers pass a fresh
    array. The result is < 2**bits, so viewing it as int64 is exact."""
    if version >= 2:
        x *= _FIB
        x >>= np.uint64(64 - bits)
        return x.view(np.int64)
    x ^= x >> _S30
    x *= _MIX1
    x ^= x >> _S27
    x *= _MIX2
    x ^= x >> _S31
    x >>= np.uint64(64 - bits)
    return x.view(np.int64)


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)


def _char_accs(cp: np.ndarray, spec: FeatureSpec) -> tuple[list[np.ndarray], list[np.uint64]]:
    """Unmixed hash of every char n-gram, sum c[i+j] * P**j (mod 2**64), per order, with its salt."""
    n = len(cp)
    accs: list[np.ndarray] = []
    salts: list[np.uint64] = []
    if not spec.char_ngrams or n == 0:
        return accs, salts
    acc = cp
    for k in range(max(spec.char_ngrams)):
        m = n - k                 # grams of length k+1 start at 0 .. m-1
        if m <= 0:
            break
        if k:
            acc = acc[:m] + cp[k:] * _PK[k]
        if k + 1 in spec.char_ngrams:
            accs.append(acc)
            salts.append(_CHAR_SALT[k])
    return accs, salts


def _word_hashes(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hash, start) of every maximal run of word characters.

    A word's hash is sum c[j] * P**(j - start) over its characters. From the prefix sums
    S[i] = sum_{j<i} c[j] * P**j it is (S[end] - S[start]) * P**-start: P is odd, so it has an
    inverse mod 2**64, and every word costs a few gathers instead of a Python-level split."""
    n = len(cp)
    is_word = _WORD_TABLE[np.minimum(cp, _U128)]
    flags = np.zeros(n + 2, dtype=np.int8)
    flags[1:n + 1] = is_word
    edges = np.flatnonzero(flags[1:] != flags[:-1])  # word starts and ends (just past), alternating
    if len(edges) == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    starts, ends = edges[0::2], edges[1::2]
    pw, inv = _powers(n + 1), _inv_powers(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(cp * pw[:n], out=prefix[1:])        # sums mod 2**64
    h = (prefix[ends] - prefix[starts]) * inv[starts]
    h += (ends - starts).astype(np.uint64) * _LEN_K
    return h, starts


_ARANGE: list[np.ndarray] = [np.arange(4096, dtype=np.int64)]


def _arange(n: int) -> np.ndarray:
    a = _ARANGE[0]
    if len(a) < n:
        a = np.arange(max(n, 2 * len(a)), dtype=np.int64)
        _ARANGE[0] = a
    return a[:n]


_POW_CACHE: list[np.ndarray] = [np.array([int(p) for p in _PK], dtype=np.uint64)]


def _powers(n: int) -> np.ndarray:
    """P**0 .. P**(n-1) mod 2**64 (cached, grown by doubling: the word hashes need one per character)."""
    cur = _POW_CACHE[0]
    if len(cur) >= n:
        return cur
    size = max(n, 2 * len(cur), 64)
    arr = np.full(size, _PK[1], dtype=np.uint64)
    arr[0] = 1
    arr = np.cumprod(arr, dtype=np.uint64)
    _POW_CACHE[0] = arr
    return arr


_P_INV = np.uint64(pow(_P_INT, -1, 1 << 64))
_INV_CACHE: list[np.ndarray] = [np.ones(1, dtype=np.uint64)]


def _inv_powers(n: int) -> np.ndarray:
    """P**-0 .. P**-(n-1) mod 2**64 (cached, grown by doubling)."""
    cur = _INV_CACHE[0]
    if len(cur) >= n:
        return cur
    arr = np.full(max(n, 2 * len(cur), 4096), _P_INV, dtype=np.uint64)
    arr[0] = 1
    arr = np.cumprod(arr, dtype=np.uint64)
    _INV_CACHE[0] = arr
    return arr


def _word_accs(cp: np.ndarray, spec: FeatureSpec) -> tuple[list[np.ndarray], list[np.uint64], np.ndarray]:
    """Unmixed hash of every word n-gram per order, with its salt, and the word starts."""
    accs: list[np.ndarray] = []
    salts: list[np.uint64] = []
    if not spec.word_ngrams or len(cp) == 0:
        return accs, salts, np.zeros(0, np.int64)
    h, starts = _word_hashes(cp)
    m = len(h)
    acc = h
    for k in range(max(spec.word_ngrams)):
        cnt = m - k
        if cnt <= 0:
            break
        if k:
            acc = acc[:cnt] * _BIGRAM_K + h[k:]
        if k + 1 in spec.word_ngrams:
            accs.append(acc)
            salts.append(_WORD_SALT[k])
    return accs, salts, starts


def extract(text: str, spec: FeatureSpec) -> Families:
    """Every hashed n-gram of ``text`` with its start position, one array per order (the reference
    definition; the run-time scorer, ``_scoring.py``, computes the same buckets in one buffer)."""
    cp = _codepoints(text)
    c_accs, c_salts = _char_accs(cp, spec)
    w_accs, w_salts, starts = _word_accs(cp, spec)
    if not c_accs and not w_accs:
        return Families([], [])
    mixed = [_mix(a + salt, spec.bits, spec.version) for a, salt in zip(c_accs + w_accs, c_salts + w_salts)]
    chars = mixed[:len(c_accs)]
    if spec.version >= 2 and chars and has_run4(cp):
        null_runs(cp, chars, [k for k in spec.char_ngrams if k <= len(cp)], spec.null_bucket)
    return Families([(h, _arange(len(h))) for h in chars],
                    [(g, starts[:len(g)]) for g in mixed[len(c_accs):]])


def has_run4(cp: np.ndarray) -> bool:
    """Whether four equal code points follow each other somewhere (one compare and one memchr-like
    search: the common answer, no, costs next to nothing)."""
    same = cp[1:] == cp[:-1]                      # same[j]: cp[j + 1] == cp[j]
    return same.tobytes().find(b"\x01\x01\x01") >= 0


def null_runs(cp: np.ndarray, chars: list[np.ndarray], orders: list[int], null: int) -> None:
    """Send every char n-gram that lies inside a run of one repeated character, past the run's first
    n-gram, to the null bucket (in place). ``chars[i]`` holds the grams of order ``sorted(orders)[i]``."""
    same = cp[1:] == cp[:-1]
    csum = np.concatenate(([0], np.cumsum(same, dtype=np.int64)))
    for h, k in zip(chars, sorted(orders)):
        m = len(h)
        if m < 2:
            continue
        # gram i (i >= 1) covers cp[i-1 .. i+k-1] all equal <=> same[i-1 .. i+k-2] all true
        i = np.arange(1, m)
        inside = (csum[i + k - 1] - csum[i - 1]) == k
        h[1:][inside] = null


def vectorize(text: str, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """(bucket indices, values) of the whole text; duplicates are summed by the consumer."""
    fam = extract(text, spec)
    nc, nw = fam.n_chars, fam.n_words
    vals = np.concatenate((np.full(nc, 1.0 / np.sqrt(max(nc, 1))), np.full(nw, 1.0 / np.sqrt(max(nw, 1)))))
    idx = [i for i, _ in fam.chars] + [i for i, _ in fam.words]
    flat = np.concatenate(idx) if idx else np.zeros(0, np.int64)
    if spec.version >= 2:  # the null bucket still counts in the normalization, but carries nothing
        vals[flat == spec.null_bucket] = 0.0
    return flat, vals.astype(np.float32)
