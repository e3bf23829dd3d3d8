"""Walking regex *source* text: where a character class or a group ends.

The injection scanner (``injection/_rx.py``) and the redaction prefilter (``redaction/_prefilter.py``)
both rewrite patterns for RE2 and must skip look-around groups whole; one walker serves both.
"""

from __future__ import annotations

__all__ = ["class_end", "group_end"]


def class_end(src: str, i: int) -> int:
    """Index just past the character class starting at ``src[i] == '['`` (``len(src)`` if unclosed).

    A ``]`` right after ``[`` or ``[^`` is a literal, as in Python's ``re``; escapes are skipped."""
    j = i + 1
    if j < len(src) and src[j] == "^":
        j += 1
    if j < len(src) and src[j] == "]":
        j += 1
    while j < len(src) and src[j] != "]":
        j += 2 if src[j] == "\\" else 1
    return min(len(src), j + 1)


def group_end(src: str, i: int) -> int:
    """Index just past the group opening at ``src[i] == '('`` (nested groups, classes and escapes
    respected); -1 when the group never closes."""
    depth = 0
    j = i
    while j < len(src):
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = class_end(src, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1
