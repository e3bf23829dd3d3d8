"""Detectors for the *shape* of an attack: fake prompt boundaries, active markup, hidden payloads, floods.

These do not read meaning; they look for structure that has no business in a
user prompt or a tool result: chat-template tokens, a fake "end of system prompt",
HTML that runs script, text only visible after decoding, invisible characters,
and inputs built to exhaust the model (huge or endlessly repeated).
"""

from __future__ import annotations

import re
import zlib

from . import _rx
from ..threat import Finding, Severity
from ._base import finding
from .normalize import Segment, Views

__all__ = [
    "BoundaryManipulation",
    "MarkupInjection",
    "EncodedPayload",
    "SuspiciousUnicode",
    "ExcessiveLength",
    "RepetitionFlood",
]

D, M, I = Severity.DANGEROUS, Severity.MODERATE, Severity.INFO

# ----------------------------------------------------------------------------- boundaries
_ROLE = r"(?:system|user|assistant|developer|admin|administrator|human|ai|model|bot|gpt|chatgpt|operator|tool)"
_BOUNDARY_RE = _rx.compile(
    # chat-template special tokens
    r"<\|\s?(?:im_start|im_end|im_sep|endoftext|system|user|assistant|eot_id|eom_id|start_header_id|end_header_id|"
    r"begin_of_text|end_of_text|end_of_turn|start_of_turn|fim_\w+|eos|bos|sep|pad|endofprompt|channel|message|"
    r"return|call|constrain|start|end)\s?\|>"
    r"|<\s?/?\s?(?:start_of_turn|end_of_turn)\s?>"
    r"|\[/?\s?inst\s?\]|<<\s?/?\s?sys\s?>>|\[/?\s?sys(?:tem)?\s?\]"
    # XML-ish role / prompt tags
    r"|<\s?/?\s?(?:system|sys|system_prompt|system-prompt|instructions?|admin|developer|prompt|user_input|user-input|"
    r"user_query|assistant|human|im_start|im_end|context|policy|rules)\s?>"
    # "### END OF USER INPUT", "--- END SYSTEM ---", "[END OF PROMPT]", "=== BEGIN SYSTEM PROMPT ==="
    r"|(?:^|\n)\s?(?:#{2,}|={2,}|-{2,}|\*{2,}|\[|<|\(|>{2,}|/{2,}|~{2,}|\+{2,})\s?(?:end|begin|start|stop|close|"
    r"closing|beginning|new)(?: of)?(?: the)? (?:system|user|input|prompt|instructions?|context|conversation|"
    r"assistant|admin|developer|session|chat|user input|system prompt|system message|user message|untrusted|"
    r"trusted|data)\b"
    # JSON / dict role objects: {"role": "system", ...}
    r"|[\"']role[\"']\s?:\s?[\"'](?:system|developer|admin)[\"']"
    # a fake system turn: "system:" / "[system]" / "system message:" at the start of a line
    r"|(?:^|\n)\s?(?:\[|\*\*|#+ ?)?(?:new |updated |real |actual |true )?(?:system|sys|admin|administrator|developer|"
    r"root|operator)(?: (?:prompt|message|note|notice|override|instruction|instructions|update|alert|directive))?"
    r"(?:\]|\*\*)?\s?:(?!\s*(?:\d|linux|windows|macos|unix|x86|arm|requirements?\b))"
    r"|(?:^|\n)\s?\[(?:system|admin|developer|sys|root|operator)(?: [a-z0-9_ \-]{1,40})?\]"
)
# A fake dialogue: an assistant turn followed by a user turn, at line starts.
_TURN_RE = _rx.compile(r"(?:^|\n)\s?(?P<who>assistant|ai|bot|model|gpt|chatgpt|user|human)\s?:")


class BoundaryManipulation:
    """Fake prompt boundaries: chat-template tokens, ``</system>``, ``[INST]``, role objects, fake turns.

    A model cannot tell a boundary it was given from one an attacker typed; text
    that *contains* boundary markers is trying to start a new, privileged section.
    """

    name = "boundary_manipulation"

    def scan(self, views: Views) -> list[Finding]:
        for seg in views.segments():
            f = seg.folded
            m = _BOUNDARY_RE.search(f)
            if m:
                return [finding(views, seg, self.name, m.start(), m.end(), M, "prompt boundary marker")]
            span = _fake_dialogue(f)
            if span:
                return [finding(views, seg, self.name, span[0], span[1], M, "fake dialogue turns")]
        return []


def _fake_dialogue(f: str) -> tuple[int, int] | None:
    assistant_at: int | None = None
    for m in _TURN_RE.finditer(f):
        who = m.group("who")
        if who in ("user", "human"):
            if assistant_at is not None:
                return assistant_at, m.end()
        else:
            assistant_at = m.start() + (1 if f[m.start()] == "\n" else 0)
    return None


# ----------------------------------------------------------------------------- markup
_MARKUP_RE = _rx.compile(
    r"<\s?(?:img|svg|iframe|script|video|audio|object|embed|a|details|input|form|math|style|link|meta|marquee|image|"
    r"source|track|frame)\b[^>\n]{0,300}?\b(?:on(?:error|load|mouseover|focus|toggle|begin|start|pageshow|animationstart)"
    r"\s?=|javascript\s?:|srcdoc\s?=|data\s?:\s?text/html)"
    r"|<\s?script\b[^>]{0,100}>[^<]{0,300}?(?:alert\s?\(|console\.log|document\.cookie|fetch\s?\(|eval\s?\(|atob\s?\(|"
    r"window\.location|localstorage|xmlhttprequest|navigator\.sendbeacon|new image)"
    r"|\bhref\s?=\s?[\"']?\s?javascript\s?:"
    r"|\]\(\s?javascript\s?:"
)


class MarkupInjection:
    """HTML or Markdown that executes script when rendered (``onerror=``, ``javascript:`` links, ``<script>``).

    Such strings in a prompt or a tool result aim at the UI that will render the
    model's answer (stored XSS through the model).
    """

    name = "markup_injection"

    def scan(self, views: Views) -> list[Finding]:
        for seg in views.segments():
            m = _MARKUP_RE.search(seg.folded)
            if m:
                return [finding(views, seg, self.name, m.start(), m.end(), M, "script-bearing markup")]
        return []


# ----------------------------------------------------------------------------- encoded payloads
_DECODE_ORDER_RE = _rx.compile(
    r"\b(?:decode|decipher|decrypt|translate|convert|unscramble|reverse|interpret|read)\b[^.\n]{0,80}?\b(?:and|then)\b"
    r"[^.\n]{0,30}?\b(?:follow|execute|obey|do|perform|carry out|act on|run|comply with|answer|respond to|complete)\b"
    r"|\b(?:follow|execute|obey|carry out|act on|comply with|run)\b[^.\n]{0,30}?\b(?:the )?(?:decoded|hidden|"
    r"encoded|embedded|secret) (?:instructions?|message|text|command|payload|task|request)"
)
_LONG_BLOB = 40


class EncodedPayload:
    """Content hidden by an encoding (base64, hex, rot13, URL, HTML entities, tag characters ...).

    DANGEROUS: the text asks for the decoded content to be followed, or hides
    text in invisible tag characters. INFO: a long blob that decodes to readable
    text (recorded, not alarming: people paste encoded data). Instructions found
    *inside* decoded text are reported by the other checks with ``decoded_from``
    set, and the scanner adds an ``encoded_payload`` finding for them.
    """

    name = "encoded_payload"

    def scan(self, views: Views) -> list[Finding]:
        if not views.decoded:
            return []
        main = Segment(views.folded, "", views.offsets, 0, len(views.text))
        out: list[Finding] = []
        m = _DECODE_ORDER_RE.search(views.folded)
        if m:
            out.append(finding(views, main, self.name, m.start(), m.end(), D, "asks to follow decoded content"))
        for seg in views.segments():
            if not seg.decoded_from:
                continue
            if seg.decoded_from.split(">")[0] == "unicode_tags":
                out.append(finding(views, seg, self.name, 0, len(seg.folded), D, "invisible tag-character text"))
                break
            if not out and seg.end - seg.start >= _LONG_BLOB:
                out.append(finding(views, seg, self.name, 0, len(seg.folded), I, "encoded text"))
        return out


# ----------------------------------------------------------------------------- unicode
class SuspiciousUnicode:
    """Invisible or direction-changing characters (the reference's check, with fewer false alarms).

    MODERATE: bidi embedding/override/isolate controls, Unicode tag characters,
    runs of supplementary variation selectors (byte smuggling). INFO: zero-width
    characters or private-use code points (emoji sequences and icon fonts use them).
    """

    name = "suspicious_unicode"

    def scan(self, views: Views) -> list[Finding]:
        c = views.suspicious_unicode
        if not c or not any(c.values()):
            return []
        main = Segment(views.folded, "", views.offsets, 0, len(views.text))
        text = views.text
        strong = []
        if c.get("tag"):
            strong.append(f"{c['tag']} tag chars")
        if c.get("variation_selector", 0) >= 8:
            strong.append(f"{c['variation_selector']} variation selectors")
        bidi = sum(1 for ch in _BIDI_CONTROLS if ch in text) if c.get("bidi") else 0
        if bidi:
            strong.append("bidi override")
        detail = ", ".join(f"{v} {k}" for k, v in c.items() if v)
        pos = _first_suspicious(text)
        f = finding(views, main, self.name, 0, 0, M if strong else I, detail)
        return [Finding(check=f.check, start=pos, end=pos + 1, evidence=repr(text[pos:pos + 1]),
                        severity=f.severity, score=f.score, detail=detail)]


_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _first_suspicious(text: str) -> int:
    from ._fold import SUSPICIOUS_RE

    m = SUSPICIOUS_RE.search(text)
    return m.start() if m else 0


# ----------------------------------------------------------------------------- size
#: longest text per source before ``excessive_length`` fires (the reference used 10,000 for prompts)
LENGTH_LIMITS = {"user": 10_000, "tool_input": 20_000, "tool_output": 200_000, "document": 500_000}


class ExcessiveLength:
    """The reference's length check, per source: prompts past 10,000 chars, tool results much later."""

    name = "excessive_length"

    def scan(self, views: Views) -> list[Finding]:
        limit = LENGTH_LIMITS.get(views.source, LENGTH_LIMITS["user"])
        n = len(views.text)
        if n <= limit:
            return []
        return [Finding(check=self.name, start=limit, end=n, evidence=f"{n} characters (limit {limit})",
                        severity=M, score=0.5, detail=f"{n} > {limit} characters")]


# ----------------------------------------------------------------------------- repetition
_CHUNK = 4096
_MIN_CHUNK = 1024
_FLOOD_RATIO = 0.04


class RepetitionFlood:
    """A stretch of text that is one short unit repeated (token-flooding / denial of service).

    The reference compared every 50-char window with the next, a quadratic loop
    that also misses units whose length does not divide 50. Here each 4 kB chunk
    of the folded text is compressed; a chunk that shrinks below 4% of its size is
    a handful of characters repeated hundreds of times. Linear, and C-speed.
    """

    name = "repetition_flood"

    def scan(self, views: Views) -> list[Finding]:
        f = views.folded
        n = len(f)
        if n < _MIN_CHUNK:
            return []
        main = Segment(f, "", views.offsets, 0, len(views.text))
        for lo in range(0, n, _CHUNK):
            chunk = f[lo:lo + _CHUNK]
            if len(chunk) < _MIN_CHUNK:
                chunk = f[max(0, n - _CHUNK):]
                lo = max(0, n - _CHUNK)
            raw = chunk.encode("utf-8", "surrogatepass")
            if len(zlib.compress(raw, 1)) < len(raw) * _FLOOD_RATIO:
                return [finding(views, main, self.name, lo, lo + len(chunk), M, "highly repetitive text")]
        return []
