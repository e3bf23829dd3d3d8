"""Output filtering for tool results: mask secrets/personal data and flag active content.

``filter_output(text, context)`` redacts with the full engine plus any values the caller marks
sensitive (keys ending in ``_secret``/``_key``/``_token``/``password``, as in the reference design).
``validate_output_safety(text)`` reports ``<script>``, ``<iframe>`` and ``javascript:`` URLs
(the reference's three checks) with find()/bounded patterns instead of ``.*?`` with DOTALL,
which is quadratic on many unclosed tags. ``output_hook`` packages both as an ``after_tool`` hook.
"""

from __future__ import annotations

import re
from typing import Any

from . import KNOWN, redact
from .._redact import redact_value

_JS_URL = re.compile(r"j[\s\x00]{0,8}a[\s\x00]{0,8}v[\s\x00]{0,8}a[\s\x00]{0,8}s[\s\x00]{0,8}c[\s\x00]{0,8}r"
                     r"[\s\x00]{0,8}i[\s\x00]{0,8}p[\s\x00]{0,8}t[\s\x00]{0,8}:")
_TAG = re.compile(r"<\s{0,8}/?\s{0,8}(script|iframe)\b")
_SENSITIVE_SUFFIXES = ("_secret", "_key", "_token", "password", "_pwd")


def filter_output(text: str, context: dict[str, Any] | None = None) -> str:
    """``text`` with secrets, personal data and the sensitive values in ``context`` masked."""
    if not isinstance(text, str):
        return text
    if context:
        extra = [str(v) for k, v in context.items()
                 if isinstance(k, str) and k.lower().endswith(_SENSITIVE_SUFFIXES) and v is not None]
        if extra:
            for v in sorted(extra, key=len, reverse=True):
                if len(v) >= 4:
                    text = text.replace(v, "[REDACTED:context]")
    return redact(text)


def validate_output_safety(text: str) -> tuple[bool, str | None]:
    """(safe, reason). Unsafe: a script or iframe tag, or a ``javascript:`` URL (any case,
    whitespace/NUL-split like ``java script:``)."""
    if not isinstance(text, str) or not text:
        return True, None
    low = text.lower()
    if "<" in low:
        m = _TAG.search(low)
        if m is not None:
            return False, f"{m.group(1).capitalize()} tag detected in output"
    if "j" in low and ":" in low:
        if "javascript:" in low or _JS_URL.search(low):
            return False, "JavaScript URL detected in output"
    return True, None


def filter_value(obj: Any) -> Any:
    """A JSON-like value with every string filtered (credential-named keys blanked whole)."""
    return redact_value(obj, redact)


def output_hook(event: Any) -> Any:
    """``after_tool`` hook: masks secrets in the tool's output in place and blocks active content.

    Register with ``airlock.add_hook("after_tool", output_hook)`` or ``enable_output_filter()``.
    """
    from ..hooks import HookResult

    out = getattr(event, "output", None)
    texts: list[str] = []

    def collect(v: Any, depth: int = 0) -> None:
        if depth > 32 or len(texts) > 10_000:
            return
        if isinstance(v, str):
            texts.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                collect(x, depth + 1)
        elif isinstance(v, (list, tuple)):
            for x in v:
                collect(x, depth + 1)

    collect(out)
    for t in texts:
        safe, why = validate_output_safety(t)
        if not safe:
            return HookResult.block(f"unsafe tool output: {why}")
    try:
        event.output = filter_value(out)
    except (AttributeError, TypeError):
        pass
    return HookResult.allow()


def enable_output_filter(priority: int = 50, *, registry: Any = None) -> Any:
    """Opt in: register ``output_hook`` as an ``after_tool`` hook, globally or on ``registry``
    (e.g. ``server.engine.hooks``); returns the hook id (for ``remove_hook``/``registry.remove``)."""
    if registry is not None:
        return registry.add("after_tool", output_hook, priority=priority)
    from ..hooks import add_hook

    return add_hook("after_tool", output_hook, priority=priority)


__all__ = ["filter_output", "validate_output_safety", "filter_value", "output_hook", "enable_output_filter", "KNOWN"]
