"""The gate of every detector (see ``_prefilter``): vendor rules, context and personal-data
detectors of this engine, and the passes of the interim redactor (``airlock._redact``).

A gate must match wherever its detector could report something. Most are derived from the
detector's own regex (``gate_of``); the hand-written ones are commented with why they are a
superset.
"""

from __future__ import annotations

import re

from .. import _redact
from . import _context, _pii
from ._prefilter import Prefilter, safe_gate
from ._vendors import VENDOR_RULES

_V = r"[^\s\"'`,;<>\\(){}\[\]]"  # first char of an assignment value (_context._SEP_VALUE)
_KW = r"(?:pass|pwd|secret|token|key|auth|credential)"
_ID = r"[A-Za-z0-9_.\-]*"  # _context._IDENT (the name is that, around the keyword)


def _hand() -> list[tuple[str, str]]:
    return [
        # _context.assignments: keyword inside an identifier, then _SEP_VALUE (repeat bounds dropped)
        ("assign", rf"(?i){_KW}{_ID}[\"']?\]?[ \t]*(?:[:?+!]*=|=>|:|<-)[ \t]*\\?[\"']?{_V}"),
        # ... the --flag form: the identifier starts with '-', then _FLAG_VALUE
        ("flag", rf"(?i)-{_ID}{_KW}{_ID}[ \t]+[\"']?{_V}"),
        # ... the <add key="Password" value="..."/> form (_XML_KV)
        ("xml", r"(?i)key\s*=\s*[\"'][A-Za-z0-9_.\-]+[\"']\s+value\s*=\s*[\"'][^\"'<>\n]"),
        # _context.k8s_secrets returns at once without both words
        ("k8s", r"apiVersion(?s:.)*ata:|ata:(?s:.)*apiVersion"),
        # _context._CURL_U: -u/--user then whitespace
        ("curl", r"(?:-u|--user)\s"),
        # _pii._SSN without the back-reference (both separators independently optional)
        ("ssn", r"\d\d\d[ \-.]?\d\d[ \-.]?\d\d\d\d"),
        # _pii.emails: a local-part char, '@', a domain label, '.', the next label or TLD
        ("email", r"[A-Za-z0-9._%+\-]@[A-Za-z0-9][A-Za-z0-9\-]*\.[A-Za-z0-9]"),
        # _pii._PHONE needs >= 7 digits; between two of its digits stand at most 2 of ' .()-'
        ("phone", r"\d(?:[ .()\-]{0,2}\d){6}"),
    ]


def _distinctive(i: int) -> bool:
    """A vendor rule whose every prefix is >= 4 chars: the prefix alone is a tight gate."""
    return all(len(a) >= 4 for a in VENDOR_RULES[i].anchors)


# A rule that opens with a positive look-behind on one character class: ``lit(?<=[cls]lit)rest``
# or ``(?<=[cls])rest``. ``gate_of`` drops look-arounds, which leaves a bare two-letter prefix
# ('su', '00') that fires on ordinary words ("supported"); the class is a necessary condition
# on the character before, so it stays in the gate, and so does the exact length of a short tail.
_BEHIND_LIT = re.compile(r"^(?P<lit>[A-Za-z0-9]+)\(\?<=(?P<cls>\[[^\]\[]+\])(?P=lit)\)(?P<rest>.+)$")
_BEHIND_START = re.compile(r"^\(\?<=(?P<cls>\[[^\]\[]+\])\)(?P<rest>.+)$")


def _behind_gate(pattern: str) -> str | None:
    m = _BEHIND_LIT.match(pattern) or _BEHIND_START.match(pattern)
    if m is None:
        return None
    rest = safe_gate(m.group("rest"))
    if rest is None:
        return None
    return m.group("cls") + (m.groupdict().get("lit") or "") + rest


def _vendor_gate(i: int) -> str | None:
    """Distinctive prefixes as literals (a trie-sized DFA, cheap to build); short or common ones
    ('.', '00', 'sk-', 'AKIA'...) as the rule's own regex, relaxed (``gate_of``)."""
    r = VENDOR_RULES[i]
    if _distinctive(i):
        return "|".join(re.escape(a) for a in r.anchors)
    behind = _behind_gate(r.pattern.pattern)
    if behind is not None:
        return behind
    return safe_gate(r.pattern, 3)  # a short tail after the anchor is tight enough; long ones cost DFA states


def _derived() -> list[tuple[str, object]]:
    return [
        ("pem", _context._PEM), ("jwt", _context._JWT), ("url", _context._URL), ("bearer", _context._BEARER),
        ("card", _pii._CARD), ("iban", _pii._IBAN),
        *_redact.GATES,
    ]


def _build() -> Prefilter:
    gates: list[tuple[str, str]] = []
    for name, rx in _hand():
        g = safe_gate(rx)
        gates.append((name, g if g is not None else "(?!)"))  # "(?!)" fails to compile in RE2 -> always
    for name, pat in _derived():
        g = safe_gate(pat)  # type: ignore[arg-type]
        gates.append((name, g if g is not None else "(?!)"))
    for i in range(len(VENDOR_RULES)):
        g = _vendor_gate(i)
        gates.append((f"v{i}", g if g is not None else "(?!)"))
    return Prefilter(gates, _group)


def _group(name: str) -> int:
    """Which RE2 set a gate goes in (see ``Prefilter``): vendor rules, the rest. Two smaller sets
    build about half the DFA states of one on new, varied text (state construction dominates the
    first scans), for ~1 us more per call on clean text than one set."""
    return 0 if name[0] == "v" else 1


PREFILTER = _build()


def fired_gates(text: str) -> set[str] | None:
    """Names of the detectors that can fire on ``text``; ``None``: run them all."""
    return PREFILTER.fired(text)
