"""The heuristic detectors of Airlock's injection defense, one class per check.

Every class implements :class:`airlock.threat.Detector`: a ``name`` and a
``scan(views) -> list[Finding]`` that runs in linear time and reads the
:class:`~airlock.injection.normalize.Views` of one text. The reference design's
six checks are here (instruction override, authority impersonation, boundary
manipulation, encoded payload, financial transfer, destructive) plus its
validator's length / repetition / unicode checks, and the attack families the
reference missed: jailbreak personas, prompt extraction, exfiltration, tool
redirection, instructions planted in data, and script-bearing markup.

Checks live in three private modules by kind; this module is the public list.
"""

from __future__ import annotations

from typing import Any

from ..threat import Detector, Finding, Severity
from ._action import Destructive, Exfiltration, FinancialTransfer, ToolRedirection
from ._lang import AuthorityImpersonation, IndirectInstruction, InstructionOverride, JailbreakPersona, PromptExtraction
from ._struct import (
    BoundaryManipulation,
    EncodedPayload,
    ExcessiveLength,
    MarkupInjection,
    RepetitionFlood,
    SuspiciousUnicode,
)

__all__ = [
    "InstructionOverride",
    "AuthorityImpersonation",
    "BoundaryManipulation",
    "EncodedPayload",
    "FinancialTransfer",
    "Destructive",
    "JailbreakPersona",
    "PromptExtraction",
    "Exfiltration",
    "ToolRedirection",
    "IndirectInstruction",
    "MarkupInjection",
    "ExcessiveLength",
    "RepetitionFlood",
    "SuspiciousUnicode",
    "default_detectors",
    "derived_findings",
    "HIJACK_CHECKS",
    "ACTION_CHECKS",
]


def default_detectors() -> list[Detector]:
    """A fresh instance of every built-in check, in reporting order."""
    return [
        InstructionOverride(),
        AuthorityImpersonation(),
        BoundaryManipulation(),
        EncodedPayload(),
        FinancialTransfer(),
        Destructive(),
        JailbreakPersona(),
        PromptExtraction(),
        Exfiltration(),
        ToolRedirection(),
        IndirectInstruction(),
        MarkupInjection(),
        ExcessiveLength(),
        RepetitionFlood(),
        SuspiciousUnicode(),
        LazyLearned(),
    ]


class LazyLearned:
    """The learned detector (``learned.py``), loaded on the first scan: numpy and the model file
    stay out of ``import airlock``. Without its model it raises, which the scanner records as a
    ``detector_error`` finding (the scan goes on, the level does not drop silently)."""

    name = "learned"

    def __init__(self) -> None:
        self._impl: Detector | None = None

    def scan(self, views: Any) -> list[Finding]:
        if self._impl is None:
            from .learned import LearnedDetector

            self._impl = LearnedDetector()
        return list(self._impl.scan(views))


#: checks that try to take over the model ...
HIJACK_CHECKS = frozenset({
    "instruction_override", "jailbreak_persona", "authority_impersonation", "boundary_manipulation", "learned",
})
#: ... and checks that name a harmful action for it to take
ACTION_CHECKS = frozenset({"financial_transfer", "destructive", "exfiltration", "tool_redirection"})


def derived_findings(findings: list[Finding]) -> list[Finding]:
    """Findings implied by others: an instruction that was only visible after decoding.

    When a check matched decoded or de-obfuscated text (``decoded_from`` set),
    the hiding itself is evidence of intent: add one DANGEROUS
    ``encoded_payload`` finding on that span, unless one is already there.
    """
    if any(f.check == "encoded_payload" and f.severity is Severity.DANGEROUS for f in findings):
        return []
    for f in findings:
        if f.decoded_from and f.check != "encoded_payload" and f.severity is not Severity.INFO:
            return [Finding(check="encoded_payload", start=f.start, end=f.end, evidence=f.evidence,
                            severity=Severity.DANGEROUS, score=1.0, decoded_from=f.decoded_from,
                            detail=f"{f.check} hidden by {f.decoded_from}")]
    return []
