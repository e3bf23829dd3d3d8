"""``apply_diff``'s text engine: unified hunks and SEARCH/REPLACE blocks, all or nothing."""

from __future__ import annotations

import difflib
import time

import pytest

from airlock.tools._diff import DiffError, apply_edit


def _udiff(a: str, b: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "a/f", "b/f"))


CASES = [
    ("one\ntwo\nthree\n", "one\n2\nthree\n"),
    ("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n", "A\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nL\n"),  # two hunks
    ("x\n", "new first\nx\n"),
    ("x\ny\n", "x\n"),
    ("", "created\n"),
    ("keep\ndrop\n", "keep\n"),
]


@pytest.mark.parametrize("before,after", CASES)
def test_unified_diffs_from_difflib_round_trip(before: str, after: str) -> None:
    assert apply_edit(before, _udiff(before, after)) == after


def test_mismatch_changes_nothing() -> None:
    with pytest.raises(DiffError, match="does not match"):
        apply_edit("one\ntwo\n", "@@ -1,2 +1,2 @@\n one\n-TWO\n+2\n")


def test_no_hunks_is_an_error() -> None:
    with pytest.raises(DiffError):
        apply_edit("x\n", "just some text")


def test_search_replace_blocks() -> None:
    text = "alpha\nbeta\ngamma\n"
    diff = "<<<<<<< SEARCH\nbeta\n=======\nBETA\n>>>>>>> REPLACE\n<<<<<<< SEARCH\ngamma\n=======\n>>>>>>> REPLACE\n"
    assert apply_edit(text, diff) == "alpha\nBETA\n"


@pytest.mark.parametrize("diff,msg", [
    ("<<<<<<< SEARCH\nzeta\n=======\nx\n>>>>>>> REPLACE\n", "found 0 times"),
    ("<<<<<<< SEARCH\na\n=======\nx\n>>>>>>> REPLACE\n", "found 2 times"),
    ("<<<<<<< SEARCH\na\nno separator\n", "expected"),
])
def test_search_replace_must_match_exactly_once(diff: str, msg: str) -> None:
    with pytest.raises(DiffError, match=msg):
        apply_edit("a\nb\na\n", diff)


@pytest.mark.parametrize("bad", [None, 1, b"@@"])
def test_wrong_types(bad: object) -> None:
    with pytest.raises(DiffError):
        apply_edit("x", bad)  # type: ignore[arg-type]


def test_large_adversarial_diff_is_linear() -> None:
    text = "x\n" * 100_000
    diff = "@@ -1,100000 +1,100000 @@\n" + " x\n" * 100_000
    started = time.perf_counter()
    assert apply_edit(text, diff) == text
    with pytest.raises(DiffError):
        apply_edit(text, "@@" * 1_000_001)
    assert time.perf_counter() - started < 3
