"""Turning a request into text a person can read quickly: pretty JSON, long values folded, evidence marked.

Pure functions (no Qt) so they are easy to test. Everything is linear in the input size:
folding walks the value once, highlighting uses plain ``str.replace`` on already-escaped text.
"""

from __future__ import annotations

import html
import json
from typing import Any

from airlock.events import AnyEvent, BeforeAgentEvent, Verdict

__all__ = ["fold", "pretty_input", "input_html", "findings_html", "event_input", "RISK_COLORS"]

FOLD_AT = 240          # characters shown of a long string before "… [+N chars]"
MAX_ITEMS = 200        # items shown of a long list/dict
MAX_DEPTH = 12
MAX_TEXT = 200_000     # hard cap on what we ever put into the view

RISK_COLORS = {
    "none": "#5f6b77", "low": "#3a9d5d", "medium": "#b7860b", "high": "#d2691e", "critical": "#c8352e",
}


def fold(value: Any, limit: int = FOLD_AT, depth: int = 0) -> Any:
    """A copy of ``value`` with long strings cut, long containers shortened and deep nesting stopped."""
    if depth > MAX_DEPTH:
        return "… (nested too deep)"
    if isinstance(value, str):
        if limit and len(value) > limit:
            return value[:limit] + f"… [+{len(value) - limit} chars]"
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if limit and i >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            out[str(k)] = fold(v, limit, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [fold(v, limit, depth + 1) for v in value[: MAX_ITEMS if limit else None]]
        if limit and len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more items")
        return items
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return repr(value)[: limit or None]


def event_input(event: AnyEvent) -> Any:
    """What the agent wants to pass: the tool input, or the prompt for a before_agent event."""
    if isinstance(event, BeforeAgentEvent):
        return {"prompt": event.prompt}
    return getattr(event, "tool_input", {})


def pretty_input(value: Any, folded: bool = True) -> str:
    text = json.dumps(fold(value, FOLD_AT if folded else 0), indent=2, ensure_ascii=False, default=repr)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\n… (truncated for display)"
    return text


def _mark(escaped: str, needles: list[str]) -> str:
    for needle in needles:
        if needle and needle in escaped:
            escaped = escaped.replace(needle, f'<span style="background:#ffe08a;color:#000">{needle}</span>')
    return escaped


def _needles(evidence: list[str]) -> list[str]:
    """Evidence as it appears inside the JSON dump, HTML-escaped; longest first so overlaps mark the big one."""
    out = set()
    for ev in evidence:
        ev = ev.strip().strip("…").strip()
        if len(ev) < 3:
            continue
        out.add(html.escape(json.dumps(ev, ensure_ascii=False)[1:-1], quote=False))
    return sorted(out, key=len, reverse=True)[:20]


def input_html(value: Any, verdict: Verdict | None = None, folded: bool = True) -> str:
    text = html.escape(pretty_input(value, folded), quote=False)
    if verdict is not None and verdict.findings:
        text = _mark(text, _needles([f.evidence for f in verdict.findings]))
    return f'<pre style="font-family:monospace;margin:0;white-space:pre-wrap">{text}</pre>'


def findings_html(verdict: Verdict) -> str:
    if not verdict.findings:
        return ""
    rows = []
    for f in verdict.findings[:20]:
        where = f" in <i>{html.escape(f.location)}</i>" if f.location else ""
        dec = f" (decoded from {html.escape(f.decoded_from)})" if f.decoded_from else ""
        rows.append(
            f"<li><b>{html.escape(f.check)}</b> [{html.escape(f.severity.value)}]{where}{dec}: "
            f'<span style="background:#ffe08a;color:#000">{html.escape(f.evidence[:200])}</span></li>'
        )
    more = f"<li>… {len(verdict.findings) - 20} more</li>" if len(verdict.findings) > 20 else ""
    return f"<ul style='margin:0;-qt-list-indent:0'>{''.join(rows)}{more}</ul>"
