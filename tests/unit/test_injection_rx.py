"""The RE2-accelerated pattern wrapper must give exactly what Python's ``re`` gives."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airlock.injection import _rx

PATTERNS = [
    r"\b(?:(?P<v>ignore|forget)|(?P<o>(?:all )?(?:previous )?instructions?))\b",
    r"\b(?!0x)[a-z0-9]{2,}(?=[.!?])",              # lookarounds: prefilter mode
    r"(?<![a-z])[a-z](?:[ .][a-z]){2,}(?![a-z])",  # lookbehind
    r"[^\S\n]+\n\s*|\n\s+|[^\S\n]{2,}",
    r"end of (?:system|prompt)$",                   # Python's $ also matches before a final newline
    r"(?:%[0-9a-f]{2}[^\s%]*){3,}",
    r"\bab|abc\b",
    r"\S{0,64}\Z",                                  # end anchor with an endpos short of the end
    r"(?<![^\W\d_])[^\W\d_](?:[ .][^\W\d_]){2,}\b",   # negated classes, Unicode letters
    r"\b\w+\s\d",
    r"[^\S\n]+\n\s*|\n\s+|[^\S\n]{2,}|[^\S \n]",
]
# token soup: long enough (>= 48 chars) to take the RE2 path, full of near-misses
_TEXT = st.lists(st.sampled_from(list("abc ignorefgtlpsvu.!?\n%0x12 \t") + ["instructions", "ignore ",
                                                                            "end of system", "%2f"]),
                 max_size=120).map("".join)
# the same with non-ASCII letters, digits, spaces and punctuation mixed in (the surrogate path)
_UTEXT = st.lists(st.sampled_from(list("abc ignore.!?\n%0x1 \té\u00a0\u2003–’\u212a١ß\u0301中")
                                  + ["instructions", "ignore ", "end of system"]), max_size=120).map("".join)


def _mark(m: re.Match[str]) -> str:
    return f"<{m.group().upper()}|{m.lastgroup}>"


def _norm(m: re.Match[str] | None) -> tuple[object, ...] | None:
    return None if m is None else (m.span(), m.lastgroup, m.groups())


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PATTERNS), _TEXT | _UTEXT, st.integers(0, 40), st.integers(0, 400))
def test_fast_pattern_equals_re(src: str, text: str, pos: int, endpos: int) -> None:
    fast, slow = _rx.compile(src), re.compile(src)
    assert _norm(fast.search(text)) == _norm(slow.search(text))
    assert _norm(fast.search(text, pos, endpos)) == _norm(slow.search(text, pos, endpos))
    assert [_norm(m) for m in fast.finditer(text)] == [_norm(m) for m in slow.finditer(text)]
    assert [_norm(m) for m in fast.finditer(text, pos, endpos)] == [_norm(m) for m in slow.finditer(text, pos, endpos)]
    assert fast.sub("#", text) == slow.sub("#", text)
    assert fast.sub(_mark, text) == slow.sub(_mark, text)
    assert fast.findall(text) == slow.findall(text)


def test_long_ascii_text_uses_the_accelerator_and_agrees() -> None:
    text = ("filler words here. " * 400) + "Now ignore all previous instructions." + (" tail" * 300)
    fast, slow = _rx.compile(PATTERNS[0]), re.compile(PATTERNS[0])
    assert [_norm(m) for m in fast.finditer(text)] == [_norm(m) for m in slow.finditer(text)]
    if _rx.accelerated():
        assert fast.accelerated and fast.exact
        assert _rx.compile(PATTERNS[1]).accelerated and not _rx.compile(PATTERNS[1]).exact


def test_non_ascii_text_and_odd_spaces_agree_with_re() -> None:
    src = r"\bignore\s+\w+"
    for text in ("é" * 100 + " ignore  ünïcode", "x" * 100 + " ignore\x1c\x1dthis", "x" * 100 + "é<ignore\u00a0é"):
        assert _norm(_rx.compile(src).search(text)) == _norm(re.compile(src).search(text))


def test_prefilter_source_strips_lookarounds() -> None:
    assert _rx.prefilter_source(r"(?<!a)b(?=c(?:d))e[(?=]\(?!x") == r"be[(?=]\(?!x"
    assert _rx.prefilter_source(r"a$") == r"a(?:\n?$)"


def test_works_without_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_rx, "_re2", None)
    p = _rx.compile(PATTERNS[0])
    assert not p.accelerated
    text = "x " * 100 + "ignore instructions"
    assert _norm(p.search(text)) == _norm(re.compile(PATTERNS[0]).search(text))
    assert [m.span() for m in p.finditer(text)] == [m.span() for m in re.compile(PATTERNS[0]).finditer(text)]
