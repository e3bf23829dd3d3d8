"""Applying an edit to text: unified diff hunks or SEARCH/REPLACE blocks, all-or-nothing.

Pure functions on strings (the tool does the file I/O and the path checks). Every hunk must
match exactly; a partial application would leave the file in a state nobody asked for.
"""

from __future__ import annotations

import re

__all__ = ["DiffError", "apply_edit"]

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MAX_DIFF_CHARS = 2_000_000


class DiffError(ValueError):
    """The edit does not apply to the file as it is."""


def _search_replace(text: str, diff: str) -> str:
    blocks = diff.split("<<<<<<< SEARCH")[1:]
    if not blocks:
        raise DiffError("no SEARCH/REPLACE blocks found")
    for i, block in enumerate(blocks, 1):
        if "=======" not in block or ">>>>>>> REPLACE" not in block:
            raise DiffError(f"block {i}: expected '=======' and '>>>>>>> REPLACE'")
        search, rest = block.split("=======", 1)
        replace = rest.split(">>>>>>> REPLACE", 1)[0]
        search = search[1:] if search.startswith("\n") else search
        replace = replace[1:] if replace.startswith("\n") else replace
        if not search:
            raise DiffError(f"block {i}: empty SEARCH text")
        count = text.count(search)
        if count != 1:
            raise DiffError(f"block {i}: SEARCH text found {count} times (must be exactly once)")
        text = text.replace(search, replace, 1)
    return text


def _unified(text: str, diff: str) -> str:
    src = text.splitlines(keepends=True)
    out: list[str] = []
    pos = 0  # index into src of the next line not yet copied
    lines = diff.splitlines(keepends=True)
    i = 0
    hunks = 0
    while i < len(lines):
        m = _HUNK.match(lines[i])
        if not m:
            i += 1
            continue
        hunks += 1
        start = max(int(m.group(1)) - 1, 0) if (m.group(2) or "1") != "0" else int(m.group(1))
        if start < pos:
            raise DiffError(f"hunk {hunks} overlaps the previous one")
        out.extend(src[pos:start])
        pos = start
        i += 1
        while i < len(lines) and not lines[i].startswith("@@"):
            line = lines[i]
            tag, body = line[:1], line[1:]
            if line.startswith("\\"):  # "\ No newline at end of file"
                if out and out[-1].endswith("\n"):
                    out[-1] = out[-1][:-1]
            elif tag in (" ", "-"):
                have = src[pos] if pos < len(src) else None
                if have is None or have.rstrip("\r\n") != body.rstrip("\r\n"):
                    raise DiffError(f"hunk {hunks}: line {pos + 1} does not match the file")
                if tag == " ":
                    out.append(have)
                pos += 1
            elif tag == "+":
                out.append(body if body.endswith("\n") else body + "\n")
            elif line.startswith(("---", "+++")):
                break
            elif line.strip() == "":  # an empty context line some tools emit without the space
                have = src[pos] if pos < len(src) else None
                if have is None or have.strip() != "":
                    raise DiffError(f"hunk {hunks}: line {pos + 1} does not match the file")
                out.append(have)
                pos += 1
            else:
                raise DiffError(f"hunk {hunks}: unexpected line {line[:40]!r}")
            i += 1
    if not hunks:
        raise DiffError("no unified-diff hunks (@@ -a,b +c,d @@) found")
    out.extend(src[pos:])
    return "".join(out)


def apply_edit(text: str, diff: str) -> str:
    """``text`` with ``diff`` applied (unified diff or SEARCH/REPLACE blocks); ``DiffError`` if it does not fit."""
    if not isinstance(diff, str) or not isinstance(text, str):
        raise DiffError("text and diff must be strings")
    if len(diff) > MAX_DIFF_CHARS:
        raise DiffError(f"diff is larger than {MAX_DIFF_CHARS} characters")
    if "<<<<<<< SEARCH" in diff:
        return _search_replace(text, diff)
    return _unified(text, diff)
