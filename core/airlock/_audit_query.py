"""The audit search box language, and its translation to SQL for ``audit_index``.

Syntax (whitespace-separated, linear to parse, never an error for odd input)::

    free words "a phrase"  agent:NAME  tool:NAME  decision:denied,blocked  level:high
    since:2026-11-01  until:2026-11-02T12:00  last:1h   (s m h d w)

Free words are matched as word prefixes in the full-text index (every value of the record).
User text never reaches FTS5 as syntax: each word becomes a quoted phrase (``"` doubled), so
``"``, ``*``, ``NEAR(``, ``)``, ``OR``, ``AND``, ``NOT``, ``^`` and ``:`` are just text.
``agent:``/``tool:``/``decision:`` match a prefix (``tool:write`` finds write_file; ``*`` and ``?``
are globs: ``tool:*file``), ``level:`` the whole value; all case-insensitive (prefixes use the
index, so they stay fast on a million rows); commas mean "any of".
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SearchQuery", "parse_search", "fts_expression", "where_clause", "parse_time"]

MAX_TERMS = 32           # more words than this are ignored (and reported)
MAX_TERM_CHARS = 200
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FIELDS = ("agent", "tool", "decision", "level")


@dataclass
class SearchQuery:
    """A parsed search. Empty lists/None mean "no constraint"."""

    words: list[str] = field(default_factory=list)
    agent: list[str] = field(default_factory=list)
    tool: list[str] = field(default_factory=list)
    decision: list[str] = field(default_factory=list)
    level: list[str] = field(default_factory=list)
    since: float | None = None   # epoch seconds, inclusive
    until: float | None = None   # epoch seconds, exclusive
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.words or self.agent or self.tool or self.decision or self.level
                    or self.since is not None or self.until is not None)


def _tokens(text: str) -> list[str]:
    """Split on whitespace, keeping ``"quoted phrases"`` (and ``key:"quoted value"``) together."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            continue
        if ch.isspace() and not quoted:
            if cur:
                out.append("".join(cur))
                cur = []
            continue
        cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def parse_time(value: str, *, end: bool = False) -> float:
    """An ISO date or date-time (UTC when no zone) as epoch seconds. A bare date used as ``until``
    means the end of that day. ValueError when it is not a time."""
    v = value.strip()
    if not v or len(v) > 40:
        raise ValueError(f"not a time: {value!r}")
    try:
        if len(v) == 10:
            day = _dt.date.fromisoformat(v)
            ts = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc)
            return (ts + _dt.timedelta(days=1) if end else ts).timestamp()
        ts = _dt.datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith(("Z", "z")) else v)
    except ValueError:
        raise ValueError(f"not a time: {value!r} (use 2026-11-01 or 2026-11-01T12:00)") from None
    return (ts if ts.tzinfo else ts.replace(tzinfo=_dt.timezone.utc)).timestamp()


def _duration(value: str) -> float:
    v = value.strip().lower()
    if 2 <= len(v) <= 10 and v[-1] in _UNITS and v[:-1].isdigit():
        return int(v[:-1]) * _UNITS[v[-1]]
    raise ValueError(f"not a duration: {value!r} (use 30m, 2h, 7d)")


def parse_search(text: str, now: float | None = None) -> SearchQuery:
    """Parse the search box. Bad parts are reported in ``errors`` and otherwise ignored."""
    import time

    q = SearchQuery()
    now = time.time() if now is None else now
    if not isinstance(text, str):
        q.errors.append("search text must be a string")
        return q
    for tok in _tokens(text[:10_000]):
        key, sep, value = tok.partition(":")
        k = key.lower()
        if sep and value and k in _FIELDS:
            vals = [v.strip().lower()[:MAX_TERM_CHARS] for v in value.split(",")[:16] if v.strip()]
            getattr(q, k).extend(vals)
            continue
        if sep and value and k in ("since", "until", "last"):
            try:
                if k == "last":
                    q.since = now - _duration(value)
                elif k == "since":
                    q.since = parse_time(value)
                else:
                    q.until = parse_time(value, end=True)
            except ValueError as exc:
                q.errors.append(str(exc))
            continue
        if len(q.words) >= MAX_TERMS:
            q.errors.append(f"only the first {MAX_TERMS} words are used")
            break
        q.words.append(tok[:MAX_TERM_CHARS])
    return q


def fts_expression(words: list[str]) -> str:
    """An FTS5 MATCH expression where every word is a quoted prefix phrase (no user syntax).
    Words without a letter or digit cannot match any token and are dropped. "" when none."""
    parts = []
    for w in words:
        if any(ch.isalnum() for ch in w):
            parts.append('"' + w.replace('"', '""') + '"*')
    return " ".join(parts)


def _like(value: str, *, prefix: bool = False, exact: bool = False) -> str:
    esc = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if "*" in esc or "?" in esc:  # a glob: anchored at the start, open at the end unless exact
        g = esc.replace("*", "%").replace("?", "_")
        return g if exact or g.endswith("%") else g + "%"
    if exact:
        return esc
    return esc + "%" if prefix else "%" + esc + "%"


def where_clause(q: SearchQuery, alias: str = "r") -> tuple[list[str], list[Any]]:
    """SQL conditions (ANDed) and their parameters for the column filters and the time range."""
    conds: list[str] = []
    params: list[Any] = []
    for col, vals, mode in (("agent", q.agent, "prefix"), ("tool", q.tool, "prefix"),
                            ("decision", q.decision, "prefix"), ("level", q.level, "exact")):
        if not vals:
            continue
        ors = []
        for v in vals:
            ors.append(f"{alias}.{col} LIKE ? ESCAPE '\\'")
            params.append(_like(v, prefix=mode == "prefix", exact=mode == "exact"))
        conds.append("(" + " OR ".join(ors) + ")")
    if q.since is not None:
        conds.append(f"{alias}.epoch >= ?")
        params.append(q.since)
    if q.until is not None:
        conds.append(f"{alias}.epoch < ?")
        params.append(q.until)
    return conds, params
