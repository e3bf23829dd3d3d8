"""Personal data with validation: cards (Luhn + issuer prefix), IBAN (length + mod-97),
US SSN (invalid groups rejected), e-mail addresses, phone numbers (context words for weak shapes).

All patterns are bounded repeats of single character classes behind a boundary look-behind.
"""

from __future__ import annotations

import re
from typing import Iterator

from . import _checks as C

Hit = tuple[int, int, str, float]

# Patterns start with a character class and put the boundary look-behind after it
# ("\d(?<![...]\d)"): CPython's re can then skip quickly to candidate characters.
_CARD = re.compile(r"\d(?<![0-9A-Za-z\-.]\d)(?:[ \-]?\d){12,18}(?![0-9A-Za-z\-]|\.\d)")
_IBAN = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d\d(?:[ ]?[A-Z0-9]){10,30}(?![A-Za-z0-9])")
_SSN = re.compile(r"(\d(?<![0-9A-Za-z\-.]\d)\d\d)([ \-.]?)(\d\d)\2(\d{4})(?![0-9A-Za-z]|[\-.]\d)")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
                    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}(?:[A-Za-z]{2,24}|xn--[a-z0-9]{1,59})"
                    r"(?![A-Za-z0-9\-]|\.[A-Za-z0-9])")
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+\-/.])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{1,12}(?:[ .\-]\d{1,10}){0,5}"
    r"(?![0-9A-Za-z]|[\-/.]\d)")
# Prefilter: a run of phone characters long enough to hold 7 digits. It starts with a character
# class (fast skipping in CPython's re); the exact pattern then runs only inside such runs.
_PHONE_RUN = re.compile(r"[+(\d][\d .()\-]{6,60}")
_US_PHONE = re.compile(r"\(?\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}")
_PHONE_CTX = re.compile(r"(?i)phone|mobile|cell|tel\b|tel:|call|fax|whatsapp|sms|number|contact|\bph\b")

# card grouping as printed: 4-4-4-4(-3), Amex 4-6-5, Diners 4-6-4
_GROUPINGS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3),
              (4, 4, 4, 4, 1), (4, 4, 4, 4, 2)}
# (prefixes, allowed lengths): Visa, Amex, Mastercard (51-55, 2221-2720), Discover, JCB, Diners, UATP, Maestro
_ISSUERS: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...] = (
    (("4",), (13, 16, 19)),
    (("34", "37"), (15,)),
    (("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27"), (16,)),
    (("6011", "644", "645", "646", "647", "648", "649", "65"), (16, 19)),
    (("35",), (16, 17, 18, 19)),
    (("30", "36", "38", "39"), (14, 16)),
    (("1",), (15,)),
    (("50", "56", "57", "58", "67", "63"), tuple(range(12, 20))),
)


def _issuer_ok(digits: str) -> bool:
    return any(digits.startswith(p) and len(digits) in lens for p, lens in _ISSUERS)
_EMAIL_PLACEHOLDER = ("noreply@", "no-reply@", "git@github.com", "git@gitlab.com")


def cards(text: str) -> Iterator[Hit]:
    for m in _CARD.finditer(text):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        if not 12 <= len(digits) <= 19 or len(set(digits)) < 2:
            continue
        if ("-" in raw or " " in raw) and tuple(len(g) for g in re.split(r"[ \-]", raw)) not in _GROUPINGS:
            continue
        if C.luhn_ok(digits) and _issuer_ok(digits):
            yield (m.start(), m.end(), "credit_card", 0.9)


def ibans(text: str) -> Iterator[Hit]:
    for m in _IBAN.finditer(text):
        raw = m.group()
        compact = raw.replace(" ", "")
        # a grouped IBAN may run into following words: trim to the country length
        want = C.IBAN_LENGTHS.get(compact[:2])
        if want is None or len(compact) < want:
            continue
        if len(compact) > want:
            cut, count = 0, 0
            for i, ch in enumerate(raw):
                if ch != " ":
                    count += 1
                if count == want:
                    cut = i + 1
                    break
            raw, compact = raw[:cut], compact[:want]
        if C.iban_ok(compact):
            yield (m.start(), m.start() + len(raw), "iban", 0.97)


def ssns(text: str) -> Iterator[Hit]:
    for m in _SSN.finditer(text):
        if m.group(2) == "" and not _PHONE_CTX.search(text, max(0, m.start() - 40), m.start()) \
                and "ssn" not in text[max(0, m.start() - 40):m.start()].lower() \
                and "social" not in text[max(0, m.start() - 40):m.start()].lower():
            continue  # nine bare digits need an SSN context word
        if C.ssn_ok(m.group(1), m.group(3), m.group(4)):
            yield (m.start(), m.end(), "us_ssn", 0.85)


_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")


def _email_matches(text: str) -> Iterator[re.Match[str]]:
    """'@'-first: find each '@' (C speed), walk back over at most 64 local-part characters,
    then run the anchored pattern once. Each character is walked over a bounded number of times."""
    at = text.find("@")
    floor = 0
    while at != -1:
        j = at
        lo = max(floor, at - 64)
        while j > lo and text[j - 1] in _LOCAL:
            j -= 1
        while j < at and not text[j].isalnum():
            j += 1
        m = _EMAIL.match(text, j) if j < at else None
        if m is not None:
            floor = m.end()
            yield m
            at = text.find("@", m.end())
        else:
            at = text.find("@", at + 1)


def emails(text: str) -> Iterator[Hit]:
    if "@" not in text:
        return
    for m in _email_matches(text):
        low = m.group().lower()
        if any(p in low for p in _EMAIL_PLACEHOLDER):
            continue
        yield (m.start(), m.end(), "email", 0.9)


def phones(text: str) -> Iterator[Hit]:
    for run in _PHONE_RUN.finditer(text):
        yield from _phones_in(text, run.start(), min(len(text), run.end() + 2))


def _phones_in(text: str, start: int, end: int) -> Iterator[Hit]:
    for m in _PHONE.finditer(text, start, end):
        raw = m.group()
        if len(raw) < 7:
            continue
        digits = sum(c.isdigit() for c in raw)
        if not 7 <= digits <= 15:
            continue
        seps = sum(c in " .-()" for c in raw)
        strong = raw.startswith("+") or raw.startswith("(") or bool(_US_PHONE.fullmatch(raw))
        if raw.count(".") >= 2 and not raw.startswith("+"):
            continue  # versions / IPs
        ctx = text[max(0, m.start() - 48):m.start()]
        if strong or _PHONE_CTX.search(ctx):
            if not strong and seps == 0 and digits < 10:
                continue
            if len(set(raw) - set(" .-()+")) < 3:
                continue
            yield (m.start(), m.end(), "phone_number", 0.7 if strong else 0.6)
