"""An interim secret redactor for the audit log.

Secrets that reach a tool call (an API key in a ``curl`` command, a password in a
connection string) must never be written to disk in clear. This module blanks the
common, well-specified credential formats before a record is written. It is a
stop-gap: a later issue brings ``airlock.redact``, a full engine, which plugs into
the audit writer through ``airlock.audit.set_redactor`` and replaces ``redact_text``.

Every pattern is linear-time: each one starts with a literal anchor behind a
look-behind that only lets it start at a token boundary, and every repeated part is
a single character class bounded by a delimiter the class excludes, so no input can
make the engine backtrack more than a constant number of times per character.
"""

from __future__ import annotations

import re
from typing import Any, Callable

__all__ = ["redact_text", "redact_value", "is_secret_key", "MARK"]

MARK = "[REDACTED]"


def _mark(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# Token characters of API keys; a key never starts in the middle of a run of these.
_T = r"A-Za-z0-9_\-"
_B = rf"(?<![{_T}])"  # token boundary before the anchor

# (kind, precheck substrings, compiled pattern); the precheck skips a pass when its anchor is absent.
_TOKEN_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("jwt", ("eyJ",), re.compile(rf"{_B}eyJ[{_T}]{{8,}}\.eyJ[{_T}]{{8,}}\.[{_T}]*")),
    ("api-key", ("sk-", "sk_", "rk_"), re.compile(rf"{_B}(?:sk-|[sr]k_(?:live|test)_)[{_T}]{{16,}}")),
    ("aws-key", ("AKIA", "ASIA"), re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")),
    ("github-token", ("gh", "github_pat_"),
     re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("slack-token", ("xox",), re.compile(r"(?<![A-Za-z0-9\-])xox[abprs]-[A-Za-z0-9\-]{10,}")),
    ("google-key", ("AIza",), re.compile(rf"{_B}AIza[{_T}]{{35}}")),
    ("hf-token", ("hf_",), re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}")),
    ("npm-token", ("npm_",), re.compile(r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36,}")),
)

# "Bearer <token>" anywhere (headers, curl -H, logs).
_BEARER = re.compile(r"(?i)(?<![A-Za-z0-9])(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")
# "Authorization: Basic <b64>" (Basic alone is too common an English word to match by itself).
_AUTH_BASIC = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|digest)\s+)[A-Za-z0-9+/=._~\-]{6,}")
# scheme://user:password@host
_URL_CREDS = re.compile(r"(?i)(?<![A-Za-z0-9+.\-])([a-z][a-z0-9+.\-]{0,19}://[^\s:/@\"']{1,256}:)[^\s/@\"']{1,256}(?=@)")

_KEYWORDS = (
    r"password|passwd|passphrase|pwd|secret|client[_\-]?secret|secret[_\-]?key|api[_\-]?key|"
    r"access[_\-]?key|private[_\-]?key|token|auth[_\-]?token|access[_\-]?token|refresh[_\-]?token|"
    r"session[_\-]?token|credentials?"
)
# key=value / key: value / "key": "value" / KEY="value". The key must start at a word start
# (so db_password and GITHUB_TOKEN match but max_tokens does not) and end right before the separator.
_ASSIGN = re.compile(
    rf"(?i)(?<![A-Za-z0-9])((?:{_KEYWORDS})\\?[\"']?\s*[:=]\s*\\?)"
    r"(?:\"[^\"\n]{1,256}\"|'[^'\n]{1,256}'|[^\s\"'\\,;&=<>{}\[\]]+)"
)
# --password value / --token=value (the = form is caught above)
_FLAG = re.compile(rf"(?i)(?<![A-Za-z0-9\-])(--(?:{_KEYWORDS})\s+)[^\s\"'-][^\s\"']*")

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")


def _redact_pem(text: str) -> str:
    """Blank every private-key block. A block with no END marker is blanked to the end of the
    text (a truncated key is still a key). One forward pass: each search resumes where the
    last one stopped, and once an END is missing there is nothing left to scan."""
    out: list[str] = []
    pos = 0
    while True:
        m = _PEM_BEGIN.search(text, pos)
        if m is None:
            out.append(text[pos:])
            break
        out.append(text[pos:m.start()])
        end = _PEM_END.search(text, m.end())
        out.append(_mark("private-key"))
        if end is None:
            break
        pos = end.end()
    return "".join(out)


def _keep_group1(kind: str) -> Callable[[re.Match[str]], str]:
    mark = _mark(kind)
    return lambda m: m.group(1) + mark


_SUB_BEARER = _keep_group1("bearer")
_SUB_BASIC = _keep_group1("basic-auth")
_SUB_URL = _keep_group1("password")
_SUB_ASSIGN = _keep_group1("secret")


# Short strings repeat constantly (agent names, tool names, decisions, argument keys): remember
# their result. Bounded; cleared whole when full. ``redact_text`` is pure, so this is safe.
_CACHE: dict[str, str] = {}
_CACHE_MAX_ITEMS = 4096
_CACHE_MAX_LEN = 256


def redact_text(text: str) -> str:
    """Return ``text`` with the credentials it contains replaced by ``[REDACTED:<kind>]``.

    Linear in ``len(text)``; never raises on any ``str``.
    """
    if len(text) < 5:
        return text
    if len(text) > _CACHE_MAX_LEN or type(text) is not str:
        return _redact(text)
    hit = _CACHE.get(text)
    if hit is None:
        hit = _redact(text)
        if len(_CACHE) >= _CACHE_MAX_ITEMS:
            _CACHE.clear()
        _CACHE[text] = hit
    return hit


def _redact(text: str, fired: "set[str] | frozenset[str] | None" = None) -> str:
    """All passes; with ``fired`` (gate names from the engine's prefilter, see ``GATES``) only the
    passes whose gate matched run: a pass whose gate did not match cannot change the text."""
    def on(name: str) -> bool:
        return fired is None or name in fired

    if "PRIVATE KEY-----" in text and on("i:pem"):
        text = _redact_pem(text)
    for kind, anchors, pattern in _TOKEN_PATTERNS:
        if on("i:" + kind) and any(a in text for a in anchors):
            text = pattern.sub(_mark(kind), text)
    lower = text.lower()
    if "bearer" in lower and on("i:bearer"):
        text = _BEARER.sub(_SUB_BEARER, text)
    if "authorization" in lower and on("i:basic"):
        text = _AUTH_BASIC.sub(_SUB_BASIC, text)
    if "://" in text and "@" in text and on("i:url"):
        text = _URL_CREDS.sub(_SUB_URL, text)
    if ("=" in text or ":" in text) and on("i:assign"):
        text = _ASSIGN.sub(_SUB_ASSIGN, text)
    if "--" in text and on("i:flag"):
        text = _FLAG.sub(_SUB_ASSIGN, text)
    return text


# name -> pattern whose RE2 superset gates that pass (built by ``airlock.redaction._prefilter``)
GATES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("i:pem", _PEM_BEGIN),
    *(("i:" + kind, pattern) for kind, _a, pattern in _TOKEN_PATTERNS),
    ("i:bearer", _BEARER),
    ("i:basic", _AUTH_BASIC),
    ("i:url", _URL_CREDS),
    ("i:assign", _ASSIGN),
    ("i:flag", _FLAG),
)


_SECRET_KEY_EXACT = frozenset({"pass", "pwd", "pin", "otp", "auth", "cookie", "setcookie"})
_SECRET_KEY_SUFFIXES = (
    "password", "passwd", "passphrase", "secret", "apikey", "accesskey", "secretkey", "privatekey",
    "token", "authorization", "credential", "credentials",
)


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a credential (``password``, ``db_password``, ``GITHUB_TOKEN``,
    ``x-api-key``...): its string value is redacted whole, whatever it looks like."""
    if len(key) > 64:
        return False
    norm = "".join(c for c in key.lower() if c.isalnum())
    return norm in _SECRET_KEY_EXACT or norm.endswith(_SECRET_KEY_SUFFIXES)


def redact_value(obj: Any, text: Callable[[str], str] = redact_text) -> Any:
    """A copy of a JSON-like value with every string (keys too) passed through ``text``, and the
    string value of every credential-named key replaced by ``[REDACTED]``.

    Containers other than dict/list/tuple are returned unchanged: callers sanitize to JSON
    types first. Recursion follows the input's depth, so callers bound that depth first.
    """
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            if isinstance(k, str):
                if isinstance(v, str) and v and is_secret_key(k):
                    out[text(k)] = MARK
                    continue
                k = text(k)
            out[k] = redact_value(v, text)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact_value(v, text) for v in obj]
    return obj
