"""Validators that turn a regex candidate into a finding: checksums, entropy, placeholders.

Every function here is linear in the length of its (already bounded) argument.
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from collections import Counter

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def shannon(s: str) -> float:
    """Bits per character; random base64 gives ~5-6, English words ~3-4, 'aaaa' 0."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# ISO 13616 registry lengths (country -> total IBAN length).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_ok(iban: str) -> bool:
    """Country length and the ISO 7064 mod-97 check."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        num = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return num % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000/666/9xx, group not 00, serial not 0000; plus well-known fakes."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return area + group + serial not in ("123456789", "111111111", "219099999")


def github_crc_ok(token: str) -> bool:
    """GitHub's token format: the last 6 chars are base62(CRC32(prefix_ + 30 random chars))."""
    body, check = token[:-6], token[-6:]
    crc = zlib.crc32(body.encode())
    enc = ""
    while crc:
        crc, r = divmod(crc, 62)
        enc = _B62[r] + enc
    return enc.rjust(6, "0") == check


def b64_decode(s: str) -> bytes | None:
    s = s.strip("=")
    s = s + "=" * (-len(s) % 4)
    try:
        if "-" in s or "_" in s:
            return base64.urlsafe_b64decode(s)
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None


_PLACEHOLDER_WORDS = (
    "example", "xxxx", "placeholder", "redacted", "changeme", "change_me", "your_", "your-", "yourkey",
    "insert", "dummy", "sample", "replace", "foobar", "<", ">", "${", "{{", "$(", "%(", "%s", "...", "****",
    "secret_here", "token_here", "key_here", "here>", "todo", "undefined", "..", "[", "]",
    "process.env", "os.environ", "getenv", "env(",
)
_PLACEHOLDER_EXACT = frozenset({"password", "passwd", "secret", "token", "changeit", "null", "none", "test",
                                "admin", "apikey", "api_key", "mypassword", "pass", "string"})
_FILLERS = ("xxxx", "example", "****", "<", "${", "{{", "your_", "your-", "_here", "-here", "placeholder",
            "redacted", "dummy", "fake_", "replace")


def has_filler(value: str) -> bool:
    """Template fillers that no issued credential contains (used on vendor-format matches)."""
    low = value.lower()
    if any(f in low for f in _FILLERS):
        return True
    longest, _ = _run_stats(value)
    return longest >= 6 or periodic(value)


def periodic(value: str, max_period: int = 4) -> bool:
    """True when most of ``value`` repeats a unit of <= 4 chars ('123123123', 'abababab')."""
    n = len(value)
    if n < 8:
        return False
    for p in range(1, max_period + 1):
        same = sum(1 for i in range(p, n) if value[i] == value[i - p])
        if same > 0.6 * (n - p):
            return True
    return False


def _run_stats(s: str) -> tuple[int, int]:
    """(longest run of one repeated char, chars inside ascending/descending sequences of >= 4)."""
    longest = run = 1
    seq_chars = 0
    seq = 1
    for a, b in zip(s, s[1:]):
        run = run + 1 if a == b else 1
        longest = max(longest, run)
        if abs(ord(b) - ord(a)) == 1:
            seq += 1
        else:
            if seq >= 4:
                seq_chars += seq
            seq = 1
    if seq >= 4:
        seq_chars += seq
    return longest, seq_chars


def is_placeholder(value: str, *, words: bool = True, seq: bool = True) -> bool:
    """Template markers, repeated or sequential characters, 'EXAMPLE'-style fillers."""
    if not value:
        return True
    low = value.lower()
    if low in _PLACEHOLDER_EXACT:
        return True
    if words and any(w in low for w in _PLACEHOLDER_WORDS):
        return True
    longest, seq_chars = _run_stats(value)
    if longest >= 6 or longest * 3 > len(value) + 2 or periodic(value):
        return True
    if seq and seq_chars * 2 > len(value):
        return True
    top = Counter(value).most_common(1)[0][1]
    return top * 2 > len(value) and len(value) >= 8


def char_classes(s: str) -> int:
    return sum((any(c.islower() for c in s), any(c.isupper() for c in s), any(c.isdigit() for c in s),
                any(not c.isalnum() for c in s)))


_SEG_SPLIT = str.maketrans({c: " " for c in "-_.:/ @+"})


def wordlike(value: str) -> bool:
    """Made of words and small numbers ('SalesResults-1.2', 'jjwt-jackson-0.11.2', 'mail.example.com')."""
    segs = value.translate(_SEG_SPLIT).split()
    if len(segs) < 2:
        return False
    for s in segs:
        if s.isdigit():
            if len(s) > 4:
                return False
        elif not s.isalpha():
            return False
    return True


def is_b62_random(body: str) -> bool:
    """A random base62 string of >= 20 chars has upper, lower and digits (P(miss) < 1e-6)."""
    return (any(c.isupper() for c in body) and any(c.islower() for c in body)
            and any(c.isdigit() for c in body))


def looks_random(value: str, *, min_len: int = 8, seq: bool = True) -> bool:
    """A value behind a secret-ish keyword is a secret if it looks machine-made, not a word/identifier."""
    n = len(value)
    if n < min_len or is_placeholder(value, seq=seq) or wordlike(value):
        return False
    classes = char_classes(value)
    if classes < 2 and not (n >= 16 and all(c in "0123456789abcdef" for c in value.lower())):
        return False
    # identifiers made of words: my_password_variable, someFunctionName
    if value.replace("_", "").replace("-", "").replace(".", "").isalpha() and classes <= 2 and n < 24:
        if not any(c.isupper() for c in value[1:]) or value.isupper():
            return False
    h = shannon(value)
    need = 2.5 if n < 12 else (3.0 if n < 20 else 3.3)
    if all(c in "0123456789abcdefABCDEF-" for c in value):
        need -= 0.4  # hex tops out at 4 bits/char
    return h >= need
