"""One linear pass that says which detectors can possibly fire on a text.

Every detector (each vendor rule, each context and personal-data detector, each pattern of the
interim redactor) has a *gate*: an RE2 pattern that matches wherever the detector's own pattern
matches (it is the detector's regex with look-arounds dropped and repeat upper bounds removed,
or a hand-written superset). All gates go into one ``re2.Set``: a single DFA pass over the text
(linear, no backtracking) returns the gates that matched, and only those detectors run. Clean
text therefore costs one C-speed pass instead of ~90 Python ``re`` scans.

The gates are *necessary* conditions, so skipping a detector whose gate did not match never
changes the result (``tests/unit/test_redact_prefilter.py`` checks this against running every
detector). Where RE2 and Python's ``re`` disagree on a character (``\\s``, ``\\d``, Unicode case
folding) the text is first mapped to ASCII stand-ins that keep every match (``_gate_text``).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

from .._regex_source import group_end

try:  # a project dependency; without it every detector runs (correct, only slower)
    import re2 as _re2
except ImportError:  # pragma: no cover - exercised only on a broken install
    _re2 = None

# Python's str \s: ASCII whitespace plus \x1c-\x1f (str.isspace); RE2's \s lacks \v and \x1c-\x1f.
_WS = r"\t\n\x0b\x0c\r \x1c-\x1f"
_CAP = 16  # lower bounds above this are cut (a superset): keeps the DFA small
_SMALL = 16  # {m,n} with n <= this stays exact


def gate_of(pattern: str, cap: int = _CAP) -> str:
    """``pattern`` (Python ``re`` syntax) as an RE2 superset: look-arounds removed, ``{m,n}`` ->
    ``{min(m, cap),}`` (kept exact when both bounds are small), ``\\s`` spelled out as Python's
    whitespace set."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            esc = pattern[i: i + 2]
            if esc == r"\s":
                out.append(_WS if in_class else f"[{_WS}]")
            elif esc == r"\S":
                if in_class:
                    raise ValueError("\\S inside a class")
                out.append(f"[^{_WS}]")
            elif esc in (r"\b", r"\B", r"\A", r"\Z", r"\w", r"\W") or (esc[1].isdigit() and not in_class):
                raise ValueError(f"unsupported escape {esc}")
            else:
                out.append(esc)
            i += 2
            continue
        if in_class:
            out.append(c)
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if pattern.startswith(("(?<!", "(?<=", "(?!", "(?="), i):
            i = group_end(pattern, i)
            if i < 0:
                raise ValueError("unbalanced group")
            continue
        if c in "$^":
            raise ValueError("anchors are not gated")
        if c == "{":
            j = pattern.index("}", i)
            lo, _, hi = pattern[i + 1: j].partition(",")
            top = int(lo) if not _ else (int(hi) if hi else None)
            if top is not None and top <= _SMALL and int(lo) <= cap:
                out.append(pattern[i: j + 1])
            else:
                out.append(f"{{{min(int(lo), cap)},}}")
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


# Non-ASCII characters that Python's re (IGNORECASE, or via str.lower()) treats as ASCII letters.
_FOLDS = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


def _gate_text(text: str) -> str:
    """An ASCII stand-in with the same gate matches: Unicode spaces -> ' ', Unicode digits -> '0',
    case-folding look-alikes -> their ASCII letter, anything else -> DEL (matched only by negated
    classes, like the original character)."""
    if text.isascii():
        return text
    table: dict[int, str] = {}
    for ch in set(text):
        o = ord(ch)
        if o < 128:
            continue
        if o in _FOLDS:
            table[o] = _FOLDS[o]
        elif ch.isspace():
            table[o] = " "
        elif ch.isdecimal():
            table[o] = "0"
        else:
            table[o] = "\x7f"
    return text.translate(table)


class Prefilter:
    """Compiled sets of gates; ``fired(text)`` -> the names of the gates that matched, or
    ``None`` when every detector must run (RE2 missing, or its DFA gave up on this text).

    Gates come in groups, one ``re2.Set`` each: one DFA over every gate would have to track
    every combination of half-matched gates, and builds far more states than a few small ones."""

    def __init__(self, gates: Iterable[tuple[str, str]], group: "Callable[[str], int] | None" = None) -> None:
        self._sets: list[tuple[object, dict[int, str], int]] = []  # (set, index -> name, sentinel)
        self._always: set[str] = set()
        if _re2 is None:
            self._sets = []
            self._ok = False
            return
        self._ok = True
        by_group: dict[int, list[tuple[str, str]]] = {}
        for name, rx in gates:
            by_group.setdefault(group(name) if group else 0, []).append((name, rx))
        for _g, items in sorted(by_group.items()):
            opts = _re2.Options()
            opts.max_mem = 64 << 20
            st = _re2.Set.SearchSet(opts)
            names: dict[int, str] = {}
            for name, rx in items:
                try:
                    names[st.Add(rx)] = name
                except Exception:  # noqa: BLE001 - an ungateable detector simply always runs
                    self._always.add(name)
            # The sentinel can only match at the very end of the text: its presence proves the DFA
            # ran to the end. RE2's Set.Match says "no match" when its DFA runs out of memory;
            # without this check that would look like clean text and skip every detector.
            sentinel = st.Add(r"\z")
            st.Compile()
            # the wrapper's Match only re-checks the argument type: call the compiled set directly
            self._sets.append((getattr(st, "_set", st), names, sentinel))

    @property
    def always(self) -> frozenset[str]:
        return frozenset(self._always)

    def fired(self, text: str) -> set[str] | None:
        if not self._ok:
            return None
        data = _gate_text(text).encode("utf-8")
        out = set(self._always)
        for st, names, sentinel in self._sets:
            idx = st.Match(data)  # type: ignore[attr-defined]
            if not idx or sentinel not in idx:
                return None  # the DFA gave up (memory): run every detector
            if len(idx) > 1:
                out.update(names[i] for i in idx if i != sentinel)
        return out


def safe_gate(pattern: re.Pattern[str] | str, cap: int = _CAP) -> str | None:
    """``gate_of`` or ``None`` when the pattern cannot be gated (the detector then always runs)."""
    try:
        return gate_of(pattern if isinstance(pattern, str) else pattern.pattern, cap)
    except (ValueError, IndexError):
        return None
