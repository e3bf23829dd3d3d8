"""Turning one audit record into an index row and the text the full-text index sees.

Kept apart from ``audit_index`` (which is about files, offsets and SQL): everything here is a
pure, linear function of one record.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import Any

__all__ = ["FTS_TEXT_CAP", "epoch", "text", "digest", "row"]

FTS_TEXT_CAP = 16_384  # characters of a record that go into the full-text index


def epoch(ts: Any) -> float | None:
    if not isinstance(ts, str) or len(ts) > 64:
        return None
    try:
        d = _dt.datetime.fromisoformat(ts[:-1] + "+00:00" if ts.endswith("Z") else ts)
    except ValueError:
        return None
    return (d if d.tzinfo else d.replace(tzinfo=_dt.timezone.utc)).timestamp()


def text(rec: dict[str, Any]) -> str:
    """Every value of a record but its hashes, as one capped string for the tokenizer. Nested
    values go in as compact JSON (C speed; the tokenizer drops the punctuation, keys such as
    ``path`` stay searchable)."""
    out: list[str] = []
    for k, v in rec.items():
        if k in ("hash", "prev_hash") or v is None or v == "" or v is False:
            continue
        if isinstance(v, str):
            out.append(v[:FTS_TEXT_CAP])
        elif isinstance(v, (dict, list)):
            if v:
                try:
                    out.append(json.dumps(v, ensure_ascii=False, separators=(" ", " "))[:FTS_TEXT_CAP])
                except (TypeError, ValueError, RecursionError):
                    pass
        else:
            out.append(str(v))
    return " ".join(out)[:FTS_TEXT_CAP]


def digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _s(v: Any) -> str | None:
    return None if v is None else (v if isinstance(v, str) else str(v))[:500]


def row(rec: dict[str, Any], ino: int, off: int, length: int) -> tuple:
    ts = rec.get("timestamp")
    return (rec["seq"], _s(ts), epoch(ts), _s(rec.get("agent_name")), _s(rec.get("tool_name")),
            _s(rec.get("decision")), _s(rec.get("threat_level")), _s(rec.get("rule_id")),
            _s(rec.get("decided_by")), _s(rec.get("event")), ino, off, length)
