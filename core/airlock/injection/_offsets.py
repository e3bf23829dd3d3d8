"""Map positions in a rewritten string back to the string it was rewritten from.

Normalization deletes characters (zero-width), expands some (``ﬁ`` -> ``fi``) and
collapses runs (whitespace, letter spacing). Storing one integer per character
would cost a list of a million ints for a 1 MB input, so a map is kept as sorted
breakpoints instead: between two breakpoints the mapping is a plain shift. Only
findings (a handful per text) are ever mapped, with a bisect each.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import overload

__all__ = ["OffsetMap", "sub_tracked"]


class OffsetMap(Sequence[int]):
    """``m[i]`` is the index in the source string of character ``i`` of the derived string.

    Maps compose through ``parent``: the result of this level is looked up again in
    the parent, so a chain of rewrites maps straight back to the original text.
    Inside an expanded character (one source char became several) the result is
    clamped to that source character.
    """

    __slots__ = ("_dst", "_src", "_len", "_src_len", "_parent")

    def __init__(self, dst: list[int], src: list[int], length: int, src_len: int,
                 parent: "OffsetMap | None" = None) -> None:
        self._dst = dst or [0]
        self._src = src or [0]
        self._len = length
        self._src_len = src_len
        self._parent = parent

    @classmethod
    def identity(cls, length: int) -> "OffsetMap":
        return cls([0], [0], length, length)

    def __len__(self) -> int:
        return self._len

    def _local(self, i: int) -> int:
        k = bisect_right(self._dst, i) - 1
        if k < 0:
            k = 0
        pos = self._src[k] + (i - self._dst[k])
        if k + 1 < len(self._src):  # stay inside this segment's source span
            pos = min(pos, max(self._src[k], self._src[k + 1] - 1))
        return max(0, min(pos, self._src_len))

    def map(self, i: int) -> int:
        """Source index of derived index ``i`` (``i == len`` maps to the source end)."""
        if i >= self._len:
            pos = self._src_len
        else:
            pos = self._local(max(0, i))
        return self._parent.map(pos) if self._parent is not None else pos

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Source span covering derived ``[start, end)``."""
        if end <= start:
            s = self.map(start)
            return s, s
        s = self.map(start)
        e = self.map(end - 1) + 1
        return s, max(s, e)

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> list[int]: ...

    def __getitem__(self, i: int | slice) -> int | list[int]:
        if isinstance(i, slice):
            return [self.map(j) for j in range(*i.indices(self._len))]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("offset index out of range")
        return self.map(i)

    def chain(self, parent: "OffsetMap") -> "OffsetMap":
        """This map's breakpoints, looked up afterwards through ``parent``."""
        return OffsetMap(self._dst, self._src, self._len, self._src_len, parent)


def sub_tracked(pattern: re.Pattern[str], text: str,
                repl: Callable[[re.Match[str]], str]) -> tuple[str, OffsetMap | None]:
    """``pattern.sub(repl, text)`` that also returns the offset map (None when nothing changed).

    Only matches cost Python work, so a text with no match is one C-level scan.
    """
    pieces: list[str] = []
    dst: list[int] = [0]
    src: list[int] = [0]
    last = 0
    out_len = 0
    changed = False
    for m in pattern.finditer(text):
        a, b = m.span()
        r = repl(m)
        if r == text[a:b]:
            continue
        changed = True
        if a > last:
            pieces.append(text[last:a])
            out_len += a - last
        if r:
            dst.append(out_len)
            src.append(a)
            pieces.append(r)
            out_len += len(r)
        dst.append(out_len)
        src.append(b)
        last = b
    if not changed:
        return text, None
    pieces.append(text[last:])
    out_len += len(text) - last
    return "".join(pieces), OffsetMap(dst, src, out_len, len(text))
