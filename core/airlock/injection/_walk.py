"""Flatten a tool input / tool output (any nesting of dicts, lists, strings) into one scannable text.

Scanning each string on its own costs a normalize + every detector per string;
a tool input with thousands of short strings would take seconds. Instead all
strings (dict keys included) are joined with blank lines, which break every
sentence window, scanned once, and each finding is mapped back to the field it
came from (``args.cmd[2]``). The walk is iterative, so a 100,000-deep nesting is a
bounded loop that reports ``too deep``, never a RecursionError.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Flattened", "flatten"]

SEPARATOR = "\n\n"


@dataclass(slots=True)
class Flattened:
    """The joined text, where each field starts, and why the walk stopped early (if it did)."""

    text: str
    starts: list[int] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    problem: str = ""  # "", "too_large", "too_deep", "too_many_nodes"
    problem_location: str = ""

    def locate(self, start: int, end: int) -> tuple[str, int, int]:
        """(location, start, end) of a joined-text span, relative to its field."""
        if not self.starts:
            return "", start, end
        k = max(0, bisect_right(self.starts, start) - 1)
        base, n = self.starts[k], self.lengths[k]
        s = min(max(0, start - base), n)
        e = min(max(s, end - base), n)
        return self.locations[k], s, e


def _child(path: str, key: Any) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    k = str(key)
    return f"{path}.{k}" if path else k


def flatten(obj: Any, *, max_chars: int, max_depth: int, max_nodes: int) -> Flattened:
    """Join every string inside ``obj``; stop at the first bound crossed and say which."""
    parts: list[str] = []
    out = Flattened("")
    total = 0
    nodes = 0
    seen: set[int] = set()
    stack: list[tuple[Any, str, int, bool]] = [(obj, "", 0, False)]

    def add(s: str, loc: str) -> bool:
        nonlocal total
        if not s:
            return True
        if total + len(s) > max_chars:
            out.problem, out.problem_location = "too_large", loc
            return False
        out.starts.append(total)
        out.locations.append(loc)
        out.lengths.append(len(s))
        parts.append(s)
        parts.append(SEPARATOR)
        total += len(s) + len(SEPARATOR)
        return True

    while stack:
        value, path, depth, is_key = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            out.problem, out.problem_location = "too_many_nodes", path
            break
        if depth > max_depth:
            out.problem, out.problem_location = "too_deep", path
            break
        if isinstance(value, str):
            if not add(value, f"{path}(key)" if is_key else path):
                break
        elif isinstance(value, (bytes, bytearray, memoryview)):
            if not add(bytes(value[: max_chars + 1]).decode("utf-8", "replace"), path):
                break
        elif value is None or isinstance(value, (bool, int, float, complex)):
            continue
        elif isinstance(value, Mapping) or isinstance(value, (list, tuple, set, frozenset)):
            if id(value) in seen:  # a cycle (only possible from Python callers): already scanned
                continue
            if nodes + len(value) > max_nodes:
                out.problem, out.problem_location = "too_many_nodes", path
                break
            seen.add(id(value))
            children: list[tuple[Any, str, int, bool]] = []
            if isinstance(value, Mapping):
                for k, v in value.items():
                    cp = _child(path, k)
                    if isinstance(k, str):
                        children.append((k, cp, depth + 1, True))
                    children.append((v, cp, depth + 1, False))
            else:
                items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
                for i, v in enumerate(items):
                    children.append((v, _child(path, i), depth + 1, False))
            stack.extend(reversed(children))  # keep document order
        else:
            try:
                s = str(value)
            except Exception as exc:  # an object whose __str__ fails: scan what we can say about it
                s = f"<unprintable {type(value).__name__}: {exc}>"
            if not add(s[: max_chars + 1], path):
                break
    out.text = "".join(parts)
    return out
