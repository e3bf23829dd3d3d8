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

Before any of that, a *gate* (``re2.Set`` passes over the whole text, see "gates"
below) tells which prefilters can match the text at all; searches of the others
return None at once. Clean text then costs a few Set passes instead of one pass
per pattern.

Without ``google-re2``, for non-ASCII text (where RE2's ASCII ``\\w``/``\\b``
would not be a superset), for short strings and for patterns RE2 cannot parse,
the plain ``re`` pattern runs: slower, never different.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from .._regex_source import class_end, group_end

try:  # optional accelerator
    import re2 as _re2  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - depends on the environment
    _re2 = None

__all__ = ["compile", "FastPattern", "accelerated", "prefilter_source", "non_ascii", "translate_non_ascii",
           "splice"]

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


# one non-ASCII char per surrogate class (see _SurrogateTable): a letter, a decimal digit, a space, other
_REPRESENTATIVES = (("x", "\u00e9"), ("0", "\u0663"), ("\f", "\u2003"), ("?", "\u2014"))
#: how a surrogate char is written inside a class (the form feed as an escape, not a raw control char)
_IN_CLASS = {"x": "x", "0": "0", "\f": "\\f", "?": "?"}
_ALL_SURROGATES = "x0\\f?"
_NON_ASCII_ESCAPE = re.compile(r"\\(?:[xuUN0-9])")


def _surrogates_to_add(cls: str) -> str:
    """The surrogate chars a negated class must also accept so that it matches, on surrogate bytes,
    wherever it matches a non-ASCII char in the text.

    When the class is written in ASCII with no escape that can name a non-ASCII char, whether it
    matches a non-ASCII char depends only on that char's class (\\w, \\d, \\s: exactly what its
    surrogate keeps), so one representative per surrogate decides. Otherwise: all four.
    """
    if not cls.isascii() or _NON_ASCII_ESCAPE.search(cls):
        return _ALL_SURROGATES
    try:
        rx = re.compile(cls)
    except re.error:
        return _ALL_SURROGATES
    return "".join(_IN_CLASS[sur] for sur, rep in _REPRESENTATIVES if rx.fullmatch(rep) and not rx.fullmatch(sur))


def _surrogate_class(cls: str) -> str:
    """A character class with each non-ASCII member replaced by its surrogate char: it then accepts,
    on surrogate bytes, every position where the class accepted a non-ASCII char (and maybe more)."""
    start = 2 if cls.startswith("[^") else 1
    out = [cls[:start]]
    k, end = start, len(cls) - 1  # cls[end] is the closing "]"
    while k < end:
        ch = cls[k]
        if ch == "\\" and not (k + 1 < end and ord(cls[k + 1]) > 127):
            out.append(cls[k:k + 2])
            k += 2
            continue
        if ch == "\\":  # an escaped non-ASCII member: the member itself
            k += 1
            ch = cls[k]
        if ord(ch) > 127:
            if cls[k - 1] == "-" or (k + 1 < end and cls[k + 1] == "-"):
                raise ValueError("a non-ASCII range end has no surrogate range")
            out.append(_IN_CLASS[chr(_SURROGATES[ord(ch)])])
        else:
            out.append(ch)
        k += 1
    out.append("]")
    return "".join(out)


def prefilter_source(src: str, surrogate: bool = False) -> str:
    """``src`` with every lookaround group removed and ``$`` widened, so it matches a superset.

    ``surrogate``: the variant used on non-ASCII text searched through its surrogate bytes (see
    ``_SurrogateTable``): a non-ASCII literal becomes its surrogate char, and a negated class also
    accepts the surrogates of the non-ASCII chars it matches. Raises ValueError where that cannot
    be a superset (a non-ASCII char ending a range).
    """
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            if surrogate and i + 1 < n and ord(src[i + 1]) > 127:  # an escaped non-ASCII literal
                c, i = src[i + 1], i + 1
            else:
                out.append(src[i:i + 2])
                i += 2
                continue
        if c == "[":
            j = class_end(src, i)
            cls = src[i:j]
            if surrogate:
                mapped = _surrogate_class(cls) if not cls.isascii() else cls
                # a negated class can match non-ASCII chars; let it accept their surrogates too
                extra = _surrogates_to_add(cls) if cls.startswith("[^") else ""
                cls = f"(?:{mapped}|[{extra}])" if extra else mapped
            out.append(cls)
            i = j
            continue
        if surrogate and ord(c) > 127:
            sur = chr(_SURROGATES[ord(c)])
            out.append("\\?" if sur == "?" else "\\f" if sur == "\f" else sur)
            i += 1
            continue
        if c == "(" and src.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            end = group_end(src, i)
            i = end if end >= 0 else n  # unclosed: the rest is the group
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
#: shorter texts (gaps, short windows sliced by the detectors) are not gated and have their own
#: cache: in the main one they would evict the big texts every detector comes back to. From 64
#: chars on, the gate (one Set pass per group, then a lookup per search) beats a search per pattern
#: (200-char texts 0.83x, dev texts 0.90x of gating from 256 on; long texts unchanged)
_CACHE_MIN = 64
_small: list[tuple[str, bytes | None, bool]] = []
# (text, bytes, surrogate?, gate results: (generation, variant, group) -> (ids matched, ids gated) or None)
_cache: list[tuple[str, bytes | None, bool, dict[Any, Any]]] = []

# ----------------------------------------------------------------------------- gates
# Every accelerated pattern's prefilter also goes into an ``re2.Set`` (patterns in groups of
# ``_GROUP``: one DFA over all of them would build too many states). One Set pass over a text says
# which prefilters match it *anywhere*; a prefilter that matches nowhere cannot match in any
# [pos, end) sub-range either (RE2 keeps the whole text as context), so its search returns None
# without its own pass. Fail safe: a Set that cannot be built, a pattern it rejects, or a Set whose
# DFA gave up (out of memory: its ``\z`` sentinel is missing) gates nothing: the pattern runs.

_GROUP = 16
#: patterns compiled past this many are not gated (they run as before): bounds the registry when
#: a caller compiles patterns on the fly
_MAX_GATED = 256
_registry: list["FastPattern"] = []
# (generation, {variant(surrogate?): [(set, sentinel, ids added) | None per group]})
_gates: tuple[int, dict[bool, list[Any]]] = (0, {})


class _SurrogateTable(dict):  # type: ignore[type-arg]
    """str.translate table: each non-ASCII char -> one ASCII char of the same regex class.

    Decimal digits -> "0", other word chars -> "x", whitespace -> "\\f", anything else -> "?".
    So ``\\b``, ``\\w``, ``\\d``, ``\\s`` and ``.`` say the same about the surrogate as about
    the real character; offsets stay equal (one char for one char). Whitespace reads as a form
    feed, not a space: patterns name the space (``[^\\S \\n]``) and almost never the form feed,
    so a class that excludes the space need not accept every space of the text.
    """

    def __missing__(self, cp: int) -> int:
        c = chr(cp)
        r = cp if cp < 128 else ord("0" if c.isdecimal() else "x" if c.isalnum() or c == "_" else
                                    "\f" if c.isspace() else "?")
        if len(self) < 65536:
            self[cp] = r
        return r


_SURROGATES = _SurrogateTable()


def _as_bytes(s: str) -> tuple[bytes | None, bool]:
    """(bytes for RE2, surrogate?): ASCII text as is; other text through ``_SURROGATES``.

    Both keep char offsets equal to byte offsets. None when RE2 must not be used (Python's
    ``\\s`` matches the control chars \\x0b and \\x1c-\\x1f, RE2's does not).
    """
    if len(s) < _CACHE_MIN:
        for k, b, sur in _small:
            if k is s:
                return b, sur
        b, sur = _encode(s)
        _small[:] = [(s, b, sur)] + _small[: _CACHE_SIZE - 1]
        return b, sur
    e = _entry(s)
    return e[1], e[2]


_ASCII_BYTES = bytes(range(128))
#: up to this many distinct non-ASCII chars, ``translate_non_ascii`` replaces them one by one
_FEW_DISTINCT = 16


def non_ascii(text: str) -> str:
    """The non-ASCII characters of ``text``, in order, ASCII dropped.

    Encode and ``bytes.translate`` run at C speed (about 3 ns a char), where a regex pass or a
    ``str.translate`` over a mostly-ASCII text costs 20-100 ns a char: one curly quote or emoji
    in 10 kB of prose is enough to take those paths. Checks for particular non-ASCII characters
    read this extract instead of the whole text.
    """
    return text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")


def translate_non_ascii(text: str, table: Any, chars: set[str] | None = None) -> str:
    """``text.translate(table)`` for a table that leaves ASCII alone: one ``str.replace`` per distinct
    non-ASCII char (``chars``, found when not given) when they are few and no replacement holds
    another of them, so the order of the replacements cannot matter; ``str.translate`` otherwise."""
    if chars is None:
        chars = set(non_ascii(text))
    if len(chars) > _FEW_DISTINCT:
        return text.translate(table)
    outs = []
    for c in chars:
        o = table[ord(c)]
        o = "" if o is None else chr(o) if isinstance(o, int) else o
        if o != c and not chars.isdisjoint(o):
            return text.translate(table)
        outs.append((c, o))
    for c, o in outs:
        if o != c:
            text = text.replace(c, o)
    return text


def splice(s: str, matches: list[re.Match[str]], repl: Callable[[re.Match[str]], str]) -> str:
    """``s`` with each of ``matches`` (in order, none empty) replaced by ``repl(match)``."""
    parts: list[str] = []
    last = 0
    for m in matches:
        parts += (s[last:m.start()], repl(m))
        last = m.end()
    parts.append(s[last:])
    return "".join(parts)


def _encode(s: str) -> tuple[bytes | None, bool]:
    sur = not s.isascii()
    b: bytes | None = translate_non_ascii(s, _SURROGATES).encode("ascii") if sur else s.encode("ascii")
    if any(c in b for c in _ODD_SPACES):  # memchr each: far cheaper than a regex pass
        b = None
    return b, sur


def _entry(s: str) -> tuple[str, bytes | None, bool, dict[Any, Any]]:
    for e in _cache:
        if e[0] is s:
            return e
    b, sur = _encode(s)
    e = (s, b, sur, {})
    _cache[:] = [e] + _cache[: _CACHE_SIZE - 1]  # one slice assignment: safe enough across threads
    return e


# Ordinary prose: a prefilter that matches it (word runs, sentence breaks ...) would match nearly
# every text, so gating it saves nothing, and its DFA states would slow the whole Set: left out.
_COMMON = (b"The team met on Monday, 3 May 2024, at 10:30 - see the notes (v2) below.\n"
           b"Please review the report; send questions to Anna! Thanks? \"ok\" it's 100% done.  Next\tline.\n")


def _common(src: str) -> bool:
    try:
        opts = _re2.Options()
        opts.max_mem = 8 << 20
        st = _re2.Set.SearchSet(opts)
        st.Add(src)
        st.Compile()
        return bool(getattr(st, "_set", st).Match(_COMMON))
    except Exception:
        return True  # unusable in a Set: not gated


def _build_gates() -> tuple[int, dict[bool, list[Any]]]:
    """Compile the Sets for every registered pattern (both variants); a group that fails is None."""
    pats = list(_registry)
    out: dict[bool, list[Any]] = {}
    for sur in (False, True):
        groups: list[Any] = []
        for g0 in range(0, len(pats), _GROUP):
            try:
                opts = _re2.Options()
                opts.max_mem = 64 << 20
                st = _re2.Set.SearchSet(opts)
                added: set[int] = set()
                for gid in range(g0, min(len(pats), g0 + _GROUP)):
                    src = pats[gid]._gate_src[1 if sur else 0]
                    if src is None or _common(src):
                        continue
                    try:
                        at = st.Add(src)
                    except Exception:
                        continue  # ungateable: it always runs
                    if at != len(added):  # pragma: no cover - indices out of step: give up on the group
                        raise ValueError("unexpected set index")
                    added.add(gid)
                order = sorted(added)
                sentinel = st.Add(r"\z")
                st.Compile()
                groups.append((getattr(st, "_set", st), sentinel, order))
            except Exception:  # pragma: no cover - RE2 refused the group: its patterns always run
                groups.append(None)
        out[sur] = groups
    return len(pats), out


def _gate_passes(gid: int, sur: bool, entry: tuple[Any, ...]) -> bool:
    """False only when the Set proves pattern ``gid``'s prefilter matches nowhere in the entry's bytes."""
    global _gates
    gen, sets = _gates
    if gid >= gen:  # patterns were compiled since the Sets were built
        _gates = _build_gates()
        gen, sets = _gates
    key = (gen, sur, gid // _GROUP)
    res = entry[3].get(key, False)
    if res is False:  # this group has not been run on this text yet
        res = None
        grp = sets[sur][gid // _GROUP]
        if grp is not None:
            st, sentinel, order = grp
            idx = st.Match(entry[1])
            if idx and sentinel in idx:  # the DFA ran to the end: "no match" is trustworthy
                res = (frozenset(order[i] for i in idx if i != sentinel), frozenset(order))
        entry[3][key] = res
    if res is None:
        return True
    matched, members = res
    return gid in matched or gid not in members


class FastPattern:
    """A compiled ``re`` pattern whose searches are accelerated by RE2 (see the module docstring)."""

    __slots__ = ("rx", "_pre", "_pre_sur", "exact", "_end_anchor", "pattern", "flags", "groupindex", "groups",
                 "_gate_src", "_gid", "_gate_reads_past_end")

    def __init__(self, rx: re.Pattern[str], gate: str | None = None) -> None:
        self.rx = rx
        self.pattern = rx.pattern
        self.flags = rx.flags
        self.groupindex = rx.groupindex
        self.groups = rx.groups
        src = prefilter_source(rx.pattern)
        #: the prefilter is the pattern itself: every RE2 candidate is a real match
        self.exact = src == rx.pattern
        self._pre = _re2_compile(src, rx.flags, capture=False)
        # the non-ASCII variant only for case-sensitive patterns (no Unicode case folding to mimic)
        self._pre_sur = None
        # (nor under re.ASCII, where a non-ASCII letter is not \w although its surrogate "x" is)
        sur_src: str | None = None
        if self._pre is not None and not rx.flags & (re.IGNORECASE | re.ASCII):
            try:
                sur_src = prefilter_source(rx.pattern, surrogate=True)
            except ValueError:
                sur_src = None
            if sur_src is not None:
                self._pre_sur = _re2_compile(sur_src, rx.flags, capture=False)
        # RE2 does not let ``$``/``\\z`` match at an ``endpos`` short of the text's end (re does)
        self._end_anchor = "$" in rx.pattern or "\\Z" in rx.pattern
        # the same prefilters for the gate Sets, flags inline ("(?i)")
        pre = "(?i)" if rx.flags & re.IGNORECASE else ""
        self._gate_src = (pre + (src if gate is None else gate) if self._pre is not None else None,
                          pre + (sur_src if gate is None else gate) if self._pre_sur is not None else None)
        # a gate that consumes a lookahead's character reads past ``endpos``, where re sees the end
        # of the string: searches that stop short of the text's end are not gated
        self._gate_reads_past_end = gate is not None
        self._gid = -1
        if self._pre is not None and len(_registry) < _MAX_GATED:
            self._gid = len(_registry)
            _registry.append(self)

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

    def _gated_out(self, s: str) -> bool:
        """True when the gate Set proves the prefilter matches nowhere in ``s`` (call after ``_prefilter``)."""
        if self._gid < 0 or len(s) < _CACHE_MIN:
            return False
        e = _entry(s)
        return not _gate_passes(self._gid, e[2], e)

    def _absent(self, s: str) -> bool:
        """The common case of ``search``/``finditer`` (a whole text of ``_CACHE_MIN`` chars or more)
        settled in one step: True when the gate Set proves the prefilter matches nowhere, exactly
        when the full path below would return nothing through ``_gated_out``. Most patterns match
        nowhere in most texts; their search then costs a cache lookup, not half a dozen calls."""
        e = _entry(s)
        return e[1] is not None and (self._pre_sur if e[2] else self._pre) is not None and self._gated_out(s)

    def search(self, s: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        n = len(s)
        whole = not pos and endpos is None and n >= _CACHE_MIN and self._gid >= 0
        if whole and self._absent(s):
            return None
        end = n if endpos is None else max(0, min(endpos, n))
        pos = max(0, min(pos, n))
        pre, b = self._prefilter(s, pos, end)
        if pre is None:
            return self.rx.search(s, pos, end)
        # a whole text's gate was settled above (a Set that passes it says so again)
        if not whole and (end == n or not self._gate_reads_past_end) and self._gated_out(s):
            return None
        return self._next(s, pos, end, pre.Match, b)

    def _next(self, s: str, pos: int, end: int, match: Any, b: bytes) -> re.Match[str] | None:
        """The leftmost real match in ``s[pos:end]``: RE2 proposes a start, ``re`` decides there."""
        rx, anchor = self.rx, _UNANCHORED
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
        whole = not pos and endpos is None and n >= _CACHE_MIN and self._gid >= 0
        if whole and self._absent(s):
            return
        end = n if endpos is None else max(0, min(endpos, n))
        pos = max(0, min(pos, n))
        pre, b = self._prefilter(s, pos, end)
        if pre is None:
            yield from self.rx.finditer(s, pos, end)
            return
        # what ``search`` would settle at every step depends on the text alone: settled once here
        # (for a whole text, above)
        if not whole and (end == n or not self._gate_reads_past_end) and self._gated_out(s):
            return
        match, rx = pre.Match, self.rx
        while pos <= end:
            # = self.search(s, pos, end), which hands a tail shorter than _MIN_LEN to plain re
            m = rx.search(s, pos, end) if end - pos < _MIN_LEN else self._next(s, pos, end, match, b)
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
        if not callable(repl) or count:
            if self.search(s) is None:
                return s
            return self.rx.sub(repl, s, count)
        # a function's replacements spliced between the accelerated matches: ``re.sub`` would run the
        # backtracking engine over the whole text once anything matched (2 ms for 10 kB of log lines)
        matches = list(self.finditer(s))
        if not matches:
            return s
        if any(m.start() == m.end() for m in matches):  # empty matches: re's own rules apply
            return self.rx.sub(repl, s)
        return splice(s, matches, repl)

    def split(self, s: str, maxsplit: int = 0) -> list[Any]:
        if self.search(s) is None:
            return [s]
        return self.rx.split(s, maxsplit)

    def __getattr__(self, name: str) -> Any:  # anything else (subn, scanner ...): plain re
        return getattr(self.rx, name)

    def __repr__(self) -> str:
        mode = ("exact" if self.exact else "prefilter") if self._pre is not None else "re"
        return f"FastPattern({self.rx.pattern[:60]!r}, {mode})"


def compile(pattern: str, flags: int = 0, *, gate: str | None = None) -> FastPattern:  # noqa: A001
    """``re.compile`` with an RE2 prefilter (see the module docstring).

    ``gate``: an RE2 source that matches somewhere in every text the pattern matches, read as
    ASCII text or as surrogate bytes (``_SurrogateTable``); it may consume the characters a
    lookaround only looks at. It replaces the
    prefilter in the gate Set, where a prefilter stripped of its lookarounds would match
    ordinary text (``a`` between two words for a letter-spacing pattern) and gate nothing.
    """
    return FastPattern(re.compile(pattern, flags), gate)
