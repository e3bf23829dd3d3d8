"""Featurize and score in one pass: the learned detector's run-time path.

``_features.extract`` is the reference: it builds every n-gram family as its own
array, which training needs. At run time only window sums matter, and for a
1 kB prompt the cost is not the arithmetic (a few thousand n-grams) but the
number of numpy calls, each a microsecond or two. So this module computes the
same bucket of every n-gram (same hashes, same salts, same mix) with as few
calls as it can:

* every n-gram of every order lives in one flat ``uint64`` buffer: one row of
  ``n`` per char order, one row of ``m`` (words) per word order; a row's unused
  tail points at a padding bucket of weight 0, so rows stay rectangular;
* the buffer is salted per row and gathered with one call each; for feature
  version 2 the mixing multiplier is folded into the hash constants, so mixing
  is one shift;
* char weights per position, and word weights per word, are summed down the
  rows; windows read prefix sums (words through the word index a position falls
  in: no per-position word array).

The scores are the same floats as the reference path's (same operations in the
same order); ``tests/unit/test_learned.py`` checks it on varied texts.

When the C kernel (``_kernel.c``) is built, ``best`` hands the text to it: the same computation in
one pass, without the numpy calls; ``best_numpy`` stays the reference it is tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _kernel
from ._features import (_BIGRAM_K, _CHAR_SALT, _FIB, _LEN_K, _M64, _P_INT, _PK, _WORD_SALT, _WORD_TABLE,
                        FeatureSpec, _inv_powers, _mix, _powers, has_run4, null_runs)

__all__ = ["WindowScorer", "Best"]

#: up to this many windows the best one is found in plain Python (cheaper than a dozen numpy calls)
_FEW_WINDOWS = 64

#: 1 for word characters (index 128 stands for every non-ASCII code point), as int8 for a flag array
_WORD_TABLE8 = _WORD_TABLE.astype(np.int8)


@dataclass
class Best:
    """The best window of a text: its logit, span, and what the thresholds need to know."""

    z: float
    start: int
    end: int
    #: n-grams of the most numerous word order in a one-window text; 1 << 30 for longer texts and
    #: for a model without word n-grams
    words: int
    windows: int
    #: the summed weight of the n-grams starting at each position of the window (for the evidence span)
    contrib: Callable[[], np.ndarray]


class WindowScorer:
    """Scores texts with one model's weights; build once per model (it pads the weights).

    Rows: char orders ``c_lo .. c_hi`` then word orders ``w_lo .. w_hi``, each range contiguous so that
    one slice of the buffer covers them all; an order in a range but not in the spec is a row of
    padding (weight 0), which leaves every sum unchanged."""

    def __init__(self, weights: np.ndarray, bias: float, spec: FeatureSpec, window: int, *,
                 kernel: bool = True) -> None:
        """``kernel=False``: always the numpy path (the tests compare the two)."""
        self.spec = spec
        self.bias = bias
        self.window = window
        self.source = weights                       # the array the padded copy was made from
        self.pad = spec.dim                         # the bucket past the last: weight 0
        # float64: gathered weights are summed in float64, so the cast is done once here, not per n-gram
        self.w = np.append(np.asarray(weights, dtype=np.float32), np.float32(0.0)).astype(np.float64)
        c, wo = sorted(set(spec.char_ngrams)), sorted(set(spec.word_ngrams))
        self.c_lo, self.c_hi = (c[0], c[-1]) if c else (1, 0)
        self.w_lo, self.w_hi = (wo[0], wo[-1]) if wo else (1, 0)
        self.c_rows = max(0, self.c_hi - self.c_lo + 1)
        self.w_rows = max(0, self.w_hi - self.w_lo + 1)
        #: (row, order) of the orders the spec uses
        self.c_used = [(k - self.c_lo, k) for k in c]
        self.w_used = [(k - self.w_lo, k) for k in wo]
        self.c_unused = [r for r in range(self.c_rows) if self.c_lo + r not in c]
        self.w_unused = [r for r in range(self.w_rows) if self.w_lo + r not in wo]
        # Version 2 buckets are the top bits of (hash + salt) * FIB. Multiplication distributes mod 2**64,
        # so FIB is folded into every constant the hashes are linear in (powers, salts, the word length
        # term, the inverse powers) and mixing is one shift. Version 1 (splitmix) mixes as before.
        mul = int(_FIB) if spec.version >= 2 else 1
        self.fold = mul != 1

        def scaled(values: list[int]) -> np.ndarray:
            return np.array([(int(v) * mul) & _M64 for v in values], dtype=np.uint64)[:, None]

        self.c_salts = scaled([_CHAR_SALT[k - 1] for k in range(self.c_lo, self.c_hi + 1)])
        self.w_salts = scaled([_WORD_SALT[k - 1] for k in range(self.w_lo, self.w_hi + 1)])
        self.powers = scaled([_PK[j] for j in range(max(1, self.c_hi))])
        self.len_k = np.uint64((int(_LEN_K) * mul) & _M64)
        self.mul = np.uint64(mul)
        self.shift = np.uint64(64 - spec.bits)
        self._inv: np.ndarray = np.zeros(0, dtype=np.uint64)
        self._kernel: _kernel.Kernel | None = None
        lib = _kernel.load() if kernel else None
        if lib is not None and _kernel.Kernel.supports(spec.bits, c, wo):
            self._kernel = _kernel.Kernel(lib, self.w, bias, spec.bits, spec.version, window, c, wo,
                                          [int(x) for x in _CHAR_SALT], [int(x) for x in _WORD_SALT],
                                          _P_INT, int(_LEN_K), int(_BIGRAM_K))

    @property
    def accelerated(self) -> bool:
        """Whether texts are scored by the C kernel (``_kernel.c``)."""
        return self._kernel is not None

    def _inv_powers(self, n: int) -> np.ndarray:
        """P**-i (times FIB when folded), i < n, cached per scorer."""
        inv = self._inv          # one read: another thread may swap in a different array meanwhile
        if len(inv) < n:
            base = _inv_powers(n)
            inv = base * self.mul if self.fold else base
            self._inv = inv
        return inv

    # ------------------------------------------------------------------ features
    def _buckets(self, text: str) -> tuple[np.ndarray, int, np.ndarray, int]:
        """(the bucket of every n-gram, rows back to back as int64; n; word starts; m words)."""
        cp32 = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        n = len(cp32)
        hi = max(1, self.c_hi)
        cpp = np.zeros(n + hi - 1, dtype=np.uint64)        # zero padded: every order has n rows
        cpp[:n] = cp32
        cp = cpp[:n]
        if self.w_rows:
            flags = np.zeros(n + 2, dtype=np.int8)
            _WORD_TABLE8.take(cp32, mode="clip", out=flags[1:n + 1])
            edges = (flags[1:] != flags[:-1]).nonzero()[0]    # word starts and ends, alternating
        else:
            edges = np.zeros(0, dtype=np.int64)
        starts = edges[0::2]
        m = len(starts)
        c_all = self.c_hi * n                                 # char rows for orders 1 .. c_hi
        buf = np.empty(c_all + self.w_rows * m, dtype=np.uint64)
        if self.c_rows:
            self._char_rows(cpp, n, buf[:c_all].reshape(self.c_hi, n))
        if self.w_rows and m:
            self._word_rows(cp, edges, buf[c_all:].reshape(self.w_rows, m))
        lo = (self.c_lo - 1) * n if self.c_rows else 0
        if self.fold:                                      # FIB already multiplied in: the top bits
            buf[lo:] >>= self.shift
            b = buf[lo:].view(np.int64)
        else:
            b = _mix(buf[lo:], self.spec.bits, self.spec.version)  # in place; int64 view
        pad = self.pad
        if self.c_rows:
            rows = b[:self.c_rows * n].reshape(self.c_rows, n)
            for r, k in self.c_used:
                rows[r, max(0, n - k + 1):] = pad
            for r in self.c_unused:
                rows[r] = pad
            if self.spec.version >= 2 and n >= 4 and has_run4(cp):
                present = [(r, k) for r, k in self.c_used if k <= n]
                null_runs(cp, [rows[r, :n - k + 1] for r, k in present], [k for _, k in present],
                          self.spec.null_bucket)
        if self.w_rows and m:
            rows = b[self.c_rows * n:].reshape(self.w_rows, m)
            for r, k in self.w_used:
                rows[r, max(0, m - k + 1):] = pad
            for r in self.w_unused:
                rows[r] = pad
        return b, n, starts, m

    def _char_rows(self, cpp: np.ndarray, n: int, rows: np.ndarray) -> None:
        """Row k-1: the unmixed hash of the char k-gram at each start, sum c[i+j] * P**j (mod 2**64),
        salted from ``c_lo`` on (tails, where a gram would run past the end, are junk)."""
        hi = self.c_hi
        shifted = np.ndarray(shape=(hi, n), dtype=np.uint64, buffer=cpp, strides=(8, 8))  # [j, i] = c[i+j]
        np.multiply(shifted, self.powers, out=rows)
        for j in range(1, hi):
            np.add(rows[j], rows[j - 1], out=rows[j])
        rows[self.c_lo - 1:] += self.c_salts

    def _word_rows(self, cp: np.ndarray, edges: np.ndarray, rows: np.ndarray) -> None:
        """Unmixed, salted hash of every word n-gram (see ``_features._word_hashes`` for the word hash)."""
        n = len(cp)
        pw, inv = _powers(n + 1), self._inv_powers(n + 1)
        prefix = np.empty(n + 1, dtype=np.uint64)
        prefix[0] = 0
        np.multiply(cp, pw[:n], out=prefix[1:])
        np.add.accumulate(prefix[1:], out=prefix[1:])       # sums mod 2**64
        at = prefix[edges]
        starts = edges[0::2]
        h = at[1::2] - at[0::2]
        h *= inv[starts]
        h += (edges[1::2] - starts).view(np.uint64) * self.len_k
        m = len(h)
        acc = h
        if self.w_lo == 1:
            rows[0] = h
        for k in range(1, self.w_hi):
            cnt = m - k
            if cnt <= 0:
                break
            r = k + 1 - self.w_lo
            nxt = rows[r, :cnt] if r >= 0 else np.empty(cnt, dtype=np.uint64)
            np.multiply(acc[:cnt], _BIGRAM_K, out=nxt)
            nxt += h[k:]
            acc = nxt
        rows += self.w_salts

    # ------------------------------------------------------------------ scoring
    def best(self, text: str) -> Best:
        """The best window's logit (the whole text when it fits in one window).

        The C kernel when it is built (the same floats), numpy otherwise."""
        k = self._kernel
        if k is not None:
            r = k.best(text)
            if r is not None:
                z, s, e, words, windows = r

                def contrib() -> np.ndarray:
                    got = k.contrib(text, s, e)
                    return got if got is not None else self.best_numpy(text).contrib()

                return Best(z, s, e, words, windows, contrib)
        return self.best_numpy(text)

    def best_numpy(self, text: str) -> Best:
        """``best`` computed with numpy: the reference for the kernel, and its fallback."""
        b, n, starts, m = self._buckets(text)
        g = self.w[b]
        gc = g[:self.c_rows * n].reshape(self.c_rows, n)
        gw = g[self.c_rows * n:].reshape(self.w_rows, m)
        ms = [(r, n - k + 1) for r, k in self.c_used if k <= n]       # (row, grams) of each order present
        mw = [(r, m - k + 1) for r, k in self.w_used if k <= m]
        win = self.window
        if n <= win:                                  # one window: plain sums, per order
            z = self.bias
            nc, nw = sum(mk for _, mk in ms), sum(mk for _, mk in mw)
            if nc:
                z += sum(float(gc[r, :mk].sum()) for r, mk in ms) / math.sqrt(nc)
            if nw:
                z += sum(float(gw[r, :mk].sum()) for r, mk in mw) / math.sqrt(nw)
            words = max((mk for _, mk in mw), default=0) if self.w_used else 1 << 30
            return Best(z, 0, n, words, 1, lambda: self._contrib_one(gc, gw, starts, n, ms, mw))
        c_sum = _row_sums_then_prefix(gc, n)          # [p]: the char n-grams starting before p
        w_cum = _row_sums_then_prefix(gw, m)          # [j]: the word n-grams of the first j words
        starts_l = list(range(0, n - win + 1, win // 2))
        if starts_l[-1] != n - win:
            starts_l.append(n - win)
        counts_c, counts_w = [mk for _, mk in ms], [mk for _, mk in mw]
        if len(starts_l) <= _FEW_WINDOWS:
            s, e, z = self._few_windows(starts_l, c_sum, w_cum, starts, counts_c, counts_w)
        else:
            s, e, z = self._many_windows(starts_l, c_sum, w_cum, starts, counts_c, counts_w)

        def contrib() -> np.ndarray:
            w_at = np.zeros(n, dtype=np.float64)
            w_at[starts] = _row_sums(gw, m)
            return (_row_sums(gc, n) + w_at)[s:e]

        # a long text is never "short", whatever its word count (a base64 blob has one word)
        return Best(z, s, e, 1 << 30, len(starts_l), contrib)

    def _few_windows(self, starts: list[int], c_sum: np.ndarray, w_cum: np.ndarray, word_starts: np.ndarray,
                     ms: list[int], mw: list[int]) -> tuple[int, int, float]:
        """The best of a few windows, in Python floats: a numpy call costs more than the arithmetic here.

        Char n-grams of an order with ``mk`` grams start at 0 .. mk-1, so a window [s, e) holds
        min(e, mk) - s of them. Word n-grams of order k start at the first ``mk`` word starts: the
        window holds min(#words starting before e, mk) - min(#words starting before s, mk)."""
        win = self.window
        k = len(starts)
        pts = np.array(starts + [s + win for s in starts], dtype=np.int64)
        cv = c_sum[pts].tolist()
        cnt_a = word_starts.searchsorted(pts)
        wv = w_cum[cnt_a].tolist()
        cnt = cnt_a.tolist()
        kc, kw = len(ms), len(mw)
        mc_min = min(ms, default=0)
        mw_min = min(mw, default=0)
        best_z, best_i = -math.inf, 0
        for i, s in enumerate(starts):
            e = s + win
            if e <= mc_min:                  # every order has a gram at each start: the common case
                nc = kc * win
            else:
                nc = -kc * s
                for mk in ms:
                    nc += e if e < mk else mk
            ce, cs = cnt[k + i], cnt[i]
            if ce <= mw_min:
                nw = kw * (ce - cs)
            else:
                nw = 0
                for mk in mw:
                    nw += (ce if ce < mk else mk) - (cs if cs < mk else mk)
            z = (self.bias + (cv[k + i] - cv[i]) / math.sqrt(max(float(nc), 1.0))
                 + (wv[k + i] - wv[i]) / math.sqrt(max(float(nw), 1.0)))
            if z > best_z:
                best_z, best_i = z, i
        s = starts[best_i]
        return s, s + win, best_z

    def _many_windows(self, starts_l: list[int], c_sum: np.ndarray, w_cum: np.ndarray, word_starts: np.ndarray,
                      ms: list[int], mw: list[int]) -> tuple[int, int, float]:
        """The same as ``_few_windows`` with array operations (long texts)."""
        starts = np.array(starts_l, dtype=np.int64)
        ends = starts + self.window
        ms_a = np.array(ms, dtype=np.int64)
        nc_w = (np.minimum(ends[None, :], ms_a[:, None]).sum(axis=0) - len(ms) * starts).astype(np.float64)
        nw_w = np.zeros(len(starts), dtype=np.float64)
        both = word_starts.searchsorted(np.concatenate((ends, starts)))
        for mk in mw:
            cut = np.minimum(both, mk)
            nw_w += cut[:len(ends)] - cut[len(ends):]
        we, ws = w_cum[both[:len(ends)]], w_cum[both[len(ends):]]
        zs = (self.bias + (c_sum[ends] - c_sum[starts]) / np.sqrt(np.maximum(nc_w, 1.0))
              + (we - ws) / np.sqrt(np.maximum(nw_w, 1.0)))
        k = int(np.argmax(zs))
        return int(starts[k]), int(ends[k]), float(zs[k])

    @staticmethod
    def _contrib_one(gc: np.ndarray, gw: np.ndarray, starts: np.ndarray, n: int, ms: list[tuple[int, int]],
                     mw: list[tuple[int, int]]) -> np.ndarray:
        """Summed weight of the n-grams starting at each position of a one-window text."""
        out = np.zeros(n, dtype=np.float64)
        for r, mk in ms:
            out[:mk] += gc[r, :mk]
        for r, mk in mw:
            out[starts[:mk]] += gw[r, :mk]
        return out


def _row_sums(rows: np.ndarray, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """Column sums of ``rows``, added row by row (the reference path's order of additions)."""
    out = np.empty(n, dtype=np.float64) if out is None else out
    if len(rows) == 0:
        out[:] = 0.0
        return out
    if len(rows) == 1:
        out[:] = rows[0]
        return out
    np.add(rows[0], rows[1], out=out)
    for r in range(2, len(rows)):
        out += rows[r]
    return out


def _row_sums_then_prefix(rows: np.ndarray, n: int) -> np.ndarray:
    """[0, s0, s0+s1, ...] over the column sums s of ``rows``: added left to right, as accumulate does."""
    out = np.empty(n + 1, dtype=np.float64)
    out[0] = 0.0
    np.add.accumulate(_row_sums(rows, n), out=out[1:])   # not in place: numpy would copy first
    return out
