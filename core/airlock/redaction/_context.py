"""Detectors that need context rather than a vendor prefix: private-key blocks, JWTs,
credentials in URLs and curl flags, Authorization headers, and ``password=``-style assignments.

Keyword assignments are found keyword-first: one C-speed regex scan for the keywords, then a
bounded look left (to the identifier start) and a bounded anchored match to the right. Each
character is looked at a constant number of times, so the pass is linear.
"""

from __future__ import annotations

import re
from typing import Iterator

from . import _checks as C

Hit = tuple[int, int, str, float]

_PEM = re.compile(r"-----BEGIN ((?:[A-Z0-9]{1,12} ){0,3})PRIVATE KEY( BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----")


def pem_blocks(text: str) -> Iterator[Hit]:
    pos = 0
    while True:
        m = _PEM.search(text, pos)
        if m is None:
            return
        end = _PEM_END.search(text, m.end())
        stop = end.end() if end else len(text)
        body = text[m.end(): end.start() if end else len(text)]
        if sum(c.isalnum() for c in body) >= 16:  # an empty block is a doc example, not a key
            yield (m.start(), stop, "private_key", 1.0)
        if end is None:
            return
        pos = stop


_JWT = re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{5,4000}\.eyJ?[A-Za-z0-9_\-]{2,8000}\.[A-Za-z0-9_\-]{0,2000}")


def jwts(text: str) -> Iterator[Hit]:
    import jwt as pyjwt  # PyJWT: structural parse of the header, no signature check

    for m in _JWT.finditer(text):
        tok = m.group()
        if C.is_placeholder(tok.split(".")[1], words=False):
            continue
        conf = 0.8
        try:
            header = pyjwt.get_unverified_header(tok)
            if "alg" in header or "typ" in header:
                conf = 1.0
        except Exception:  # noqa: BLE001 - a malformed header is still a token-shaped string
            pass
        yield (m.start(), m.end(), "jwt", conf)


# scheme://user:password@host -> the whole user:password part
_URL = re.compile(r"(?i)(?<![A-Za-z0-9+.\-])[a-z][a-z0-9+.\-]{0,19}://([^\s:/@\"'<>]{1,256}:[^\s/@\"'<>]{1,256})@")
# curl -u user:pass / --user "user:pass"
_CURL_U = re.compile(r"(?:^|\s)(?:-u|--user)\s{1,4}((?:\"[^\"\n]{1,256}\"|'[^'\n]{1,256}'|[^\s\"':]{1,256})"
                     r"(?::(?:\"[^\"\n]{0,256}\"|'[^'\n]{0,256}'|[^\s\"']{0,256}))?)")
_BEARER = re.compile(r"(?i)(?<![A-Za-z0-9])(?:bearer|token)\s{1,4}([A-Za-z0-9._~+/=\-]{8,4000})")
_BEARER_LOW = re.compile(r"bearer|token")


def _cred_value_ok(v: str) -> bool:
    v = v.strip("\"'{}")
    if len(v) < 4:
        return False
    if C.is_placeholder(v) or v.lower() in ("token", "secret", "pass", "passwd", "pwd", "user", "username"):
        return False
    return True


_SCHEME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def _url_matches(text: str) -> Iterator[re.Match[str]]:
    """'://'-first: walk back over at most 20 scheme characters, then one anchored match."""
    pos = text.find("://")
    while pos != -1:
        j = pos
        while j > pos - 20 and j > 0 and text[j - 1] in _SCHEME:
            j -= 1
        while j < pos and not text[j].isalpha():
            j += 1
        m = _URL.match(text, j) if j < pos else None
        if m is not None:
            yield m
            pos = text.find("://", m.end())
        else:
            pos = text.find("://", pos + 3)


def url_creds(text: str) -> Iterator[Hit]:
    if "://" not in text:
        return
    for m in _url_matches(text):
        user, _, pw = m.group(1).partition(":")
        if _cred_value_ok(pw) and not pw.startswith("$"):
            yield (m.start(1), m.end(1), "connection_string", 0.95)


_VAR = re.compile(r"\$[A-Za-z_{(]")


def curl_users(text: str) -> Iterator[Hit]:
    if "-u" not in text:
        return
    for m in _CURL_U.finditer(text):
        val = m.group(1)
        parts = [p.strip("\"'{}") for p in val.replace('"', "").replace("'", "").split(":")]
        secret = max(parts, key=len) if len(parts) > 1 else ""
        if len(parts) < 2 or not any(_cred_value_ok(p) for p in parts if p):
            continue
        if _VAR.search(val) or "{{" in val or "[" in val or not (C.char_classes(secret) >= 2 or C.shannon(secret) >= 3):
            continue
        yield (m.start(1), m.end(1), "basic_auth", 0.9)


def _bearer_matches(text: str) -> Iterator[re.Match[str]]:
    low = text.lower()
    if len(low) != len(text):
        yield from _BEARER.finditer(text)
        return
    pos = 0
    for k in _BEARER_LOW.finditer(low):
        if k.start() < pos:
            continue
        m = _BEARER.match(text, k.start())
        if m is not None:
            pos = m.end()
            yield m


def bearer(text: str) -> Iterator[Hit]:
    for m in _bearer_matches(text):
        v = m.group(1)
        if not C.is_placeholder(v) and C.char_classes(v) >= 2 and C.shannon(v) >= 3.0:
            yield (m.start(1), m.end(1), "auth_header", 0.9)


# ------------------------------------------------------------------ keyword assignments
# Case-sensitive scan of the lower-cased text: a (?i) alternation is ~30x slower in CPython's re.
_KW = re.compile(r"pass|pwd|secret|token|key|auth|credential")
_KW_ANYCASE = re.compile(r"(?i)pass|pwd|secret|token|key|auth|credential")


def _keyword_hits(text: str) -> Iterator[re.Match[str]]:
    low = text.lower()
    if len(low) == len(text):  # lower() kept every offset (true unless exotic Unicode like 'İ')
        return _KW.finditer(low)
    return _KW_ANYCASE.finditer(text)
_IDENT = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
# after the identifier: optional closing quote, separator, optional scheme word, value
_SEP_VALUE = re.compile(
    r"""["']?\]?[ \t]{0,8}(?:[:?+!]{0,3}=|=>|:|<-)[ \t]{0,8}(?:\\?["'])?"""
    r"""(?:(?i:bearer|basic|token|digest|api-?token|apikey|key|sso-key|negotiate)\s{1,4})?"""
    r"""([^\s"'`,;<>\\(){}\[\]]{1,1024})""")
_FLAG_VALUE = re.compile(r"""[ \t]{1,4}["']?([^\s"'`,;<>\\(){}\[\]\-][^\s"'`,;<>\\(){}\[\]]{0,1023})""")
# <add key="Password" value="..."/> (NuGet, .NET config)
_XML_KV = re.compile(r"""(?i)key\s{0,4}=\s{0,4}["']([A-Za-z0-9_.\-]{1,64})["']\s{1,8}value\s{0,4}=\s{0,4}["']([^"'<>\n]{1,512})["']""")

_STRONG = ("password", "passwd", "passphrase", "pwd", "secret", "credential", "privatekey")
_BENIGN_NAME = ("public", "csrf", "xsrf", "publishable", "pubkey", "tokenizer", "tokens_", "maxtoken", "max_token",
                "tokencount", "token_count", "tokenurl", "token_url", "tokentype", "token_type", "keyid", "key_id",
                "keyname", "key_name", "keyring", "keyfile", "key_file", "path", "file", "expires", "expiry", "length",
                "policy", "hint", "prompt", "label", "field", "input", "placeholder", "reset", "forgot", "_url",
                "endpoint", "header", "cache", "version", "hash", "validator", "accessor", "monkey", "hotkey",
                "keyboard", "sortkey", "primarykey", "foreignkey", "turkey", "whiskey", "jockey", "donkey")


def _kind_for(name: str) -> str:
    n = name.lower()
    if ("auth" in n and "oauth" not in n) or n in ("apikey", "x-api-key", "api-token"):
        return "auth_header" if "authorization" in n else "generic_secret"
    if "pass" in n or "pwd" in n:
        return "password"
    return "generic_secret"


_SUFFIXES = ("password", "passwd", "passphrase", "pwd", "pass", "secret", "secretkey", "token", "apikey", "apitoken",
             "accesskey", "privatekey", "credential", "credentials", "auth", "authorization", "authkey", "apisecret",
             "clientsecret", "signingkey", "encryptionkey", "masterkey", "sessionkey", "secretvalue", "keysecret",
             "tokensecret", "secretaccesskey", "accesskeysecret", "authtoken", "bearer", "apikeyvalue", "key")


def _name_ok(name: str) -> tuple[bool, bool]:
    """(is a secret-ish name, is a strong one where weaker values still count). The name must END in a
    credential word (db_password, GITHUB_TOKEN, x-api-key): 'credentialsId', 'token_url', 'AuthSource' do not."""
    n = name.lower().replace("-", "_")
    if len(n) > 64 or any(b in n for b in _BENIGN_NAME):
        return False, False
    flat = "".join(c for c in n if c.isalpha())
    if not flat.endswith(_SUFFIXES) or flat in ("key", "keys"):
        return False, False
    strong = any(s in flat for s in _STRONG)
    return True, strong


def _value_ok(v: str, strong: bool, key_only: bool = False) -> bool:
    if ".." in v or v.startswith(("$", "%", "@", "&", "*")):
        return False
    v = v.rstrip(".")
    if v.startswith(("${", "$(", "%(", "{{", "<")) or v.lower() in ("true", "false", "null", "none", "nil"):
        return False
    if "://" in v or v.startswith(("/", "./", "~/")) or v.endswith((".json", ".pem", ".key", ".txt", ".yaml")):
        return False
    if strong:
        if len(v) < 6 or C.is_placeholder(v) or _REFERENCE.fullmatch(v):
            return False
        return C.char_classes(v) >= 2 or C.shannon(v) >= 3.0
    return C.looks_random(v, min_len=16 if key_only else 10, seq=False)


# var.db_password, settings.SECRET_KEY, self.token: a reference to a secret, not the secret
_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}(?:\.[A-Za-z_][A-Za-z0-9_]{0,40}){1,6}")


def assignments(text: str) -> Iterator[Hit]:
    done = -1
    n = len(text)
    for km in _keyword_hits(text):
        if km.start() < done:
            continue
        # identifier around the keyword (bounded both ways)
        s = km.start()
        lo = max(0, s - 64)
        while s > lo and text[s - 1] in _IDENT:
            s -= 1
        e = km.end()
        hi = min(n, e + 64)
        while e < hi and text[e] in _IDENT:
            e += 1
        done = e
        name = text[s:e]
        ok, strong = _name_ok(name)
        if not ok:
            continue
        m = _SEP_VALUE.match(text, e)
        if m is None and name.startswith("-"):  # --password hunter2 / --api-key KEY
            m = _FLAG_VALUE.match(text, e)
        if m is None:
            continue
        v = m.group(1)
        done = m.end()  # never re-examine this value from a later keyword inside it (keeps the pass linear)
        flat = "".join(c for c in name.lower() if c.isalpha())
        key_only = flat.endswith("key") and not flat.endswith(_SUFFIXES[:-1])
        if _value_ok(v, strong, key_only):
            yield (m.start(1), m.start(1) + len(v.rstrip(".")), _kind_for(name), 0.9 if strong else 0.8)
    if "value" in text:
        for m in _XML_KV.finditer(text):
            ok, strong = _name_ok(m.group(1))
            if ok and any(k in m.group(1).lower() for k in ("pass", "secret", "token", "key", "pwd")) \
                    and _value_ok(m.group(2), strong):
                yield (m.start(2), m.end(2), _kind_for(m.group(1)), 0.85)


# ------------------------------------------------------------------ Kubernetes Secret manifests
_K8S_DATA = re.compile(r"(?m)^([ \t]*)(?:data|stringData):[ \t]*$")
_K8S_ITEM = re.compile(r"([ \t]+)([A-Za-z0-9_.\-]{1,253}):[ \t]*(?:[|>][-+]?[ \t]*\n[ \t]+)?[\"']?([A-Za-z0-9+/=]{4,65536})[\"']?[ \t]*(?:\n|$)")
_K8S_SECRET = re.compile(r"(?im)^\s*kind:\s*[\"']?secret[\"']?\s*$|type:\s*[\"']?kubernetes\.io/|type:\s*opaque")


def k8s_secrets(text: str) -> Iterator[Hit]:
    """Entries under ``data:``/``stringData:`` of a manifest (``apiVersion:``): whole ``key: value``
    lines, when the manifest is a Secret or the value is base64 (ConfigMaps hold plain text)."""
    if "apiVersion" not in text or "ata:" not in text:
        return
    is_secret = _K8S_SECRET.search(text) is not None
    for block in _K8S_DATA.finditer(text):
        indent = len(block.group(1).expandtabs())
        pos = block.end() + 1
        while pos < len(text):
            m = _K8S_ITEM.match(text, pos)
            if m is None or len(m.group(1).expandtabs()) <= indent:
                break
            value = m.group(3)
            raw = C.b64_decode(value) if len(value) % 4 == 0 else None
            if (is_secret or raw is not None) and not C.is_placeholder(value, words=False, seq=False):
                yield (m.start(2), m.end(3), "generic_secret", 0.85)
            pos = m.end()
