"""The audit log's last line: opaque tokens in value position that no named rule recognised.

``redact()`` must not flag git SHAs, UUIDs or hashes in ordinary text (false alarms cost the user).
The audit log is different: a record is kept for years and read by others, and a token that
*looks* like a credential where a value goes (``= "..."``, ``: ...``, a quoted string, after
``Authorization``) is masked there even when no vendor rule names it. Over-masking a hash in
the log costs a little readability; a leaked key costs the key.

A token qualifies when it is 16-512 characters without spaces, has letters and digits, has
Shannon entropy of at least 3 bits per character, and is not a date, a path or a file name.
At the very start of a string (no context) it must also mix upper and lower case or carry
base64 punctuation, so identifiers such as ``call_id`` (plain hex) stay readable.
One linear regex scan (RE2 when available) finds the candidates.
"""

from __future__ import annotations

import math
import re
from collections import Counter

try:  # RE2 keeps the scan linear whatever the input; the pattern is linear for ``re`` too
    import re2 as _re2

    _compile = _re2.compile
except ImportError:  # pragma: no cover
    _compile = re.compile

__all__ = ["mask_opaque_values", "has_candidate", "MARK"]

MARK = "[REDACTED:opaque]"
_TOKEN = r"[A-Za-z0-9+/=_\-.~@#$%&*!^?]{16,512}"
_CONTEXT_SRC = (r"(?:[=:>,(]\s*[\"'`]?|[\"'`]|(?i:authorization|bearer|basic|token|secret|password|login|key)\s+)("
                + _TOKEN + ")")
_START_SRC = r"(?m)^(" + _TOKEN + r")(?:$|[\s\"'`,;)])"  # any line start: texts are joined by "\n"
_CONTEXT, _START = _compile(_CONTEXT_SRC), _compile(_START_SRC)
# RE2 works on UTF-8 and refuses lone surrogates; Python's re takes them (the patterns are linear)
_CONTEXT_PY, _START_PY = re.compile(_CONTEXT_SRC), re.compile(_START_SRC)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_EXT = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")


def _entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _opaque(tok: str, *, at_start: bool) -> bool:
    # every test is a pure predicate of ``tok``, so their order cannot change the answer: the
    # cheap at-start one goes first (plain-hex ids such as a call_id stop there, no entropy count)
    tok = tok.rstrip(".,;:!?")
    if at_start and not ((any(c.islower() for c in tok) and any(c.isupper() for c in tok))
                         or any(c in "+/=" for c in tok)):
        return False
    if len(tok) < 16 or _DATE.match(tok) or tok.startswith(("/", "./", "~/", "../")) or _EXT.search(tok):
        return False
    if "://" in tok or not any(c.isdigit() for c in tok) or not any(c.isalpha() for c in tok):
        return False
    return _entropy(tok) >= 3.0


def _patterns(text: str) -> tuple:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _CONTEXT_PY, _START_PY
    return _CONTEXT, _START


def _build_set() -> tuple[object, int, int, int] | None:
    """Both patterns in one RE2 set: one DFA pass over the UTF-8 bytes says which of them match,
    without the wrapper's per-search cost (two ``search`` calls cost ~10x more on short text)."""
    try:
        st = _re2.Set.SearchSet(_re2.Options())
        context, start = st.Add(_CONTEXT_SRC), st.Add(_START_SRC)
        # Set.Match also says "no match" when its DFA runs out of memory: a match of this sentinel
        # (only possible at the very end) proves the scan ran to the end (as in ``_prefilter``)
        sentinel = st.Add(r"\z")
        st.Compile()
        return getattr(st, "_set", st), context, start, sentinel
    except Exception:  # noqa: BLE001 - no RE2 set: the two searches answer
        return None


_SET = _build_set() if _compile is not re.compile else None


def _matching(text: str) -> tuple[bool, bool] | None:
    """(the context pattern matches somewhere, the start pattern does), from one set scan;
    None when the set cannot say (no RE2, lone surrogates, or the DFA gave up)."""
    if _SET is None:
        return None
    try:
        data = text.encode("utf-8")  # lone surrogates raise: the caller falls back to Python's re
    except UnicodeEncodeError:
        return None
    st, context, start, sentinel = _SET
    idx = st.Match(data)  # type: ignore[attr-defined]
    if not idx or sentinel not in idx:
        return None
    return context in idx, start in idx


def has_candidate(text: str) -> bool:
    """Cheap: could ``mask_opaque_values`` change ``text``? (one scan; False means certainly not)."""
    which = _matching(text)
    if which is not None:
        return which[0] or which[1]
    context, start = _patterns(text) if not text.isascii() else (_CONTEXT, _START)
    return context.search(text) is not None or start.search(text) is not None


_UPPER, _LOWER = re.compile("[A-Z]"), re.compile("[a-z]")


def _start_can_pass(text: str) -> bool:
    """False when no start candidate of ``text`` can pass ``_opaque``: a token is a substring of
    ``text`` made of ASCII token characters, and at a start it needs both cases or one of '+/='."""
    if "+" in text or "/" in text or "=" in text:
        return True
    return _UPPER.search(text) is not None and _LOWER.search(text) is not None


def mask_opaque_values(text: str) -> str:
    spans: list[tuple[int, int]] = []
    context, start = _patterns(text) if not text.isascii() else (_CONTEXT, _START)
    # a pattern that cannot match, or whose every match ``_opaque`` must refuse, is not run: the
    # spans are the same, without the RE2 wrapper's cost per ``finditer`` (a plain-hex id: ~25 us)
    which = _matching(text)
    if (which is None or which[1]) and _start_can_pass(text):
        for m in start.finditer(text):
            if _opaque(m.group(1), at_start=True):
                spans.append((m.start(1), m.start(1) + len(m.group(1).rstrip(".,;:!?"))))
    if which is None or which[0]:
        for m in context.finditer(text):
            if _opaque(m.group(1), at_start=False):
                spans.append((m.start(1), m.start(1) + len(m.group(1).rstrip(".,;:!?"))))
    if not spans:
        return text
    out, last = [], 0
    for s, e in sorted(spans):
        if s < last:
            continue
        out.append(text[last:s])
        out.append(MARK)
        last = e
    out.append(text[last:])
    return "".join(out)
