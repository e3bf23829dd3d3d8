"""Fast exact regex matching: RE2 proposes where a match may start, Python's ``re`` decides.

The detectors are big alternations of words; Python's backtracking engine tries
every alternative at every position, ~0.3 us per character per pattern, which
made a 10 kB scan cost tens of milliseconds. RE2 (``google-re2``) runs a DFA
whose speed does not depend on the number of alternatives, but it lacks
lookarounds and differs from ``re`` in corner cases. So each pattern gets an
RE2 *prefilter*: the same source with lookarounds removed, which matches
wherever the real pattern matches (a superset). A search asks RE2 for the next
position where the prefilter matches, then runs the real ``re`` pattern
anchored there (``rx.match(s, pos)``); a false candidate costs one anchored
attempt and the search moves on. Results are real ``re.Match`` objects with
exactly ``re``'s semantics, and the cost stays linear (each candidate is
visited once, each anchored attempt is bounded by the pattern).

Without ``google-re2``, for non-ASCII text (where RE2's ASCII ``\\w``/``\\b``
would not be a superset), for short strings and for patterns RE2 cannot parse,
the plain ``re`` pattern runs: slower, never different.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

try:  # optional accelerator
    import re2 as _re2  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - depends on the environment
    _re2 = None

__all__ = ["compile", "FastPattern", "accelerated", "prefilter_source"]

#: below this many characters the plain ``re`` search is as fast as a trip through RE2
_MIN_LEN = 48
#: false candidates one search tolerates before handing the rest of the text to plain re
_MAX_MISSES = 24
# characters Python's str ``\s`` matches but RE2's does not: texts holding them use plain re
_ODD_SPACES = (b"\x0b", b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_ALLOWED_FLAGS = re.IGNORECASE | re.UNICODE


def accelerated() -> bool:
    """True when RE2 is available (scans are then several times faster)."""
    return _re2 is not None


_COUNT_RE = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_MAX_COUNT = 32


def prefilter_source(src: str, surrogate: bool = False) -> str:
    """``src`` with every lookaround group removed and ``$`` widened, so it matches a superset.

    ``surrogate``: the variant used on non-ASCII text searched through its surrogate (see
    ``_surrogate``): negated classes also accept the surrogate characters.
    """
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            out.append(src[i:i + 2])
            i += 2
            continue
        if c == "[":
            j = _class_end(src, i)
            cls = src[i:j]
            # a negated class can match any non-ASCII char, whatever surrogate stands for it
            if surrogate and cls.startswith("[^"):
                cls = f"(?:{cls}|[x0 ?])"
            out.append(cls)
            i = j
            continue
        if c == "(" and src.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            i = _group_end(src, i)
            continue
        if c == "$":
            out.append(r"(?:\n?$)")
            i += 1
            continue
        if c == "{":
            m = _COUNT_RE.match(src, i)
            if m and int(m.group(2) or m.group(1)) > _MAX_COUNT:
                out.append("*")  # a long counted repeat blows up RE2's DFA; "*" is a superset
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out).replace(r"\Z", r"\z")


def _class_end(src: str, i: int) -> int:
    """Index just past the character class starting at ``src[i] == '['``."""
    j = i + 1
    if j < len(src) and src[j] == "^":
        j += 1
    if j < len(src) and src[j] == "]":
        j += 1
    while j < len(src) and src[j] != "]":
        j += 2 if src[j] == "\\" else 1
    return min(len(src), j + 1)


def _group_end(src: str, i: int) -> int:
    """Index just past the group opening at ``src[i] == '('`` (escapes and classes respected)."""
    depth = 0
    j = i
    while j < len(src):
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = _class_end(src, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return j


def _re2_compile(src: str, flags: int, *, capture: bool) -> Any:
    """A low-level RE2 object (the wrapper's per-call Python overhead is most of the cost), or None."""
    if _re2 is None or flags & ~_ALLOWED_FLAGS & ~re.ASCII:
        return None
    try:
        low = _re2._re2
        opts = low.RE2.Options()
        opts.max_mem = 32 << 20
        opts.log_errors = False
        opts.never_capture = not capture  # without captures RE2 can stay in its DFA
        if flags & re.IGNORECASE:
            opts.case_sensitive = False
        compiled = low.RE2(src.encode("utf-8"), opts)
        return compiled if compiled.ok() else None
    except Exception:  # RE2 cannot express it: plain re only
        return None


_UNANCHORED = _re2._re2.RE2.Anchor.UNANCHORED if _re2 is not None else None


# a few-entry cache: the same texts (original, plain, folded) are searched by dozens of patterns
_CACHE_SIZE = 4
_cache: list[tuple[str, bytes | None, bool]] = []


class _SurrogateTable(dict):  # type: ignore[type-arg]
    """str.translate table: each non-ASCII char -> one ASCII char of the same regex class.

    Decimal digits -> "0", other word chars -> "x", whitespace -> " ", anything else -> "?".
    So ``\\b``, ``\\w``, ``\\d``, ``\\s`` and ``.`` say the same about the surrogate as about
    the real character; offsets stay equal (one char for one char).
    """

    def __missing__(self, cp: int) -> int:
        c = chr(cp)
        r = cp if cp < 128 else ord("0" if c.isdecimal() else "x" if c.isalnum() or c == "_" else
                                    " " if c.isspace() else "?")
        if len(self) < 65536:
            self[cp] = r
        return r


_SURROGATES = _SurrogateTable()


def _as_bytes(s: str) -> tuple[bytes | None, bool]:
    """(bytes for RE2, surrogate?): ASCII text as is; other text through ``_SURROGATES``.

    Both keep char offsets equal to byte offsets. None when RE2 must not be used (Python's
    ``\\s`` matches the control chars \\x0b and \\x1c-\\x1f, RE2's does not).
    """
    for k, b, sur in _cache:
        if k is s:
            return b, sur
    sur = not s.isascii()
    b: bytes | None = s.translate(_SURROGATES).encode("ascii") if sur else s.encode("ascii")
    if any(c in b for c in _ODD_SPACES):  # memchr each: far cheaper than a regex pass
        b = None
    _cache[:] = [(s, b, sur)] + _cache[: _CACHE_SIZE - 1]  # one slice assignment: safe enough across threads
    return b, sur


class FastPattern:
    """A compiled ``re`` pattern whose searches are accelerated by RE2 (see the module docstring)."""

    __slots__ = ("rx", "_pre", "_pre_sur", "exact", "_end_anchor", "pattern", "flags", "groupindex", "groups")

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx = rx
        self.pattern = rx.pattern
        self.flags = rx.flags
        self.groupindex = rx.groupindex
        self.groups = rx.groups
        src = prefilter_source(rx.pattern)
        #: the prefilter is the pattern itself: every RE2 candidate is a real match
        self.exact = src == rx.pattern
        self._pre = _re2_compile(src, rx.flags, capture=False)
        # the non-ASCII variant only for ASCII, case-sensitive patterns (no Unicode case folding to mimic)
        self._pre_sur = None
        if self._pre is not None and rx.pattern.isascii() and not rx.flags & re.IGNORECASE:
            self._pre_sur = _re2_compile(prefilter_source(rx.pattern, surrogate=True), rx.flags, capture=False)
        # RE2 does not let ``$``/``\\z`` match at an ``endpos`` short of the text's end (re does)
        self._end_anchor = "$" in rx.pattern or "\\Z" in rx.pattern

    @property
    def accelerated(self) -> bool:
        return self._pre is not None

    def _prefilter(self, s: str, pos: int, end: int) -> tuple[Any, bytes | None]:
        """(RE2 prefilter, bytes to run it on), or (None, None) for plain re."""
        if end - pos < _MIN_LEN or self._pre is None or (self._end_anchor and end < len(s)):
            return None, None
        b, sur = _as_bytes(s)
        if b is None:
            return None, None
        pre = self._pre_sur if sur else self._pre
        return (pre, b) if pre is not None else (None, None)

    def search(self, s: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        n = len(s)
        end = n if endpos is None else max(0, min(endpos, n))
        pos = max(0, min(pos, n))
        pre, b = self._prefilter(s, pos, end)
        if pre is None:
            return self.rx.search(s, pos, end)
        match, rx, anchor = pre.Match, self.rx, _UNANCHORED
        misses = 0
        while pos <= end:
            a = match(anchor, b, pos, end)[0][0]
            if a < 0:
                return None
            m = rx.match(s, a, end)
            if m is not None:
                return m
            pos = a + 1
            misses += 1
            if misses > _MAX_MISSES:  # the prefilter is not selective here: let re scan the rest
                return rx.search(s, pos, end)
        return None

    def finditer(self, s: str, pos: int = 0, endpos: int | None = None) -> Iterator[re.Match[str]]:
        n = len(s)
        end = n if endpos is None else max(0, min(endpos, n))
        pos = max(0, min(pos, n))
        if self._prefilter(s, pos, end)[0] is None:
            yield from self.rx.finditer(s, pos, end)
            return
        while pos <= end:
            m = self.search(s, pos, end)
            if m is None:
                return
            yield m
            a, e = m.span()
            pos = e if e > a else e + 1

    def match(self, s: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        return self.rx.match(s, pos, len(s) if endpos is None else endpos)

    def fullmatch(self, s: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        return self.rx.fullmatch(s, pos, len(s) if endpos is None else endpos)

    def findall(self, s: str, pos: int = 0, endpos: int | None = None) -> list[Any]:
        if self.search(s, pos, endpos) is None:
            return []
        return self.rx.findall(s, pos, len(s) if endpos is None else endpos)

    def sub(self, repl: str | Callable[[re.Match[str]], str], s: str, count: int = 0) -> str:
        if self.search(s) is None:
            return s
        return self.rx.sub(repl, s, count)

    def split(self, s: str, maxsplit: int = 0) -> list[Any]:
        if self.search(s) is None:
            return [s]
        return self.rx.split(s, maxsplit)

    def __getattr__(self, name: str) -> Any:  # anything else (subn, scanner ...): plain re
        return getattr(self.rx, name)

    def __repr__(self) -> str:
        mode = ("exact" if self.exact else "prefilter") if self._pre is not None else "re"
        return f"FastPattern({self.rx.pattern[:60]!r}, {mode})"


def compile(pattern: str, flags: int = 0) -> FastPattern:  # noqa: A001 - mirrors re.compile
    """``re.compile`` with an RE2 prefilter (see the module docstring)."""
    return FastPattern(re.compile(pattern, flags))
