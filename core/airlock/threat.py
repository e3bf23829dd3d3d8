"""Threat levels, findings and scan results: the vocabulary every detector speaks.

Kept in its own tiny module so that detectors, the policy, the audit log and the
desktop views can share it without importing the scanner itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ThreatLevel",
    "Severity",
    "Finding",
    "ScanResult",
    "Detector",
]


class ThreatLevel(IntEnum):
    """How dangerous a text is. Ordered, so levels compare with < and max()."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, value: "ThreatLevel | int | str") -> "ThreatLevel":
        """Accept 2, "high", "HIGH" or ThreatLevel.HIGH alike (config files and the wire use names)."""
        if isinstance(value, ThreatLevel):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        raise ValueError(f"not a threat level: {value!r} (expected one of low, medium, high, critical)")


class Severity(str, Enum):
    """How much one finding weighs in the threat level (the reference's moderate/dangerous split)."""

    INFO = "info"            # recorded, does not raise the level on its own
    MODERATE = "moderate"    # one moderate finding -> MEDIUM
    DANGEROUS = "dangerous"  # one dangerous finding -> HIGH


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a detector noticed.

    ``start``/``end`` index the text that was scanned (for a tool input, the string at
    ``location``); ``evidence`` is the matched excerpt, already shortened, so views
    can highlight it without re-running the detector. ``decoded_from`` names the
    encoding chain when the match was found in decoded text (e.g. ``"base64"``);
    offsets then point at the encoded span in the original text.
    """

    check: str
    start: int
    end: int
    evidence: str
    severity: Severity = Severity.MODERATE
    score: float | None = None
    location: str = ""
    decoded_from: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "check": self.check,
            "start": self.start,
            "end": self.end,
            "evidence": self.evidence,
            "severity": self.severity.value,
        }
        if self.score is not None:
            d["score"] = round(float(self.score), 4)
        if self.location:
            d["location"] = self.location
        if self.decoded_from:
            d["decoded_from"] = self.decoded_from
        if self.detail:
            d["detail"] = self.detail
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(
            check=str(d["check"]),
            start=int(d.get("start", 0)),
            end=int(d.get("end", 0)),
            evidence=str(d.get("evidence", "")),
            severity=Severity(d.get("severity", "moderate")),
            score=None if d.get("score") is None else float(d["score"]),
            location=str(d.get("location", "")),
            decoded_from=str(d.get("decoded_from", "")),
            detail=str(d.get("detail", "")),
        )


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The verdict of the injection scanner on one text (or one whole tool input).

    ``blocked`` is True when ``level`` reaches the configured block level
    (CRITICAL by default). ``score`` is in [0, 1]: the strongest detector score,
    so callers can rank or threshold without re-deriving it from findings.
    """

    level: ThreatLevel
    blocked: bool
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    score: float = 0.0

    @property
    def checks(self) -> list[str]:
        """Distinct checks that fired, in first-seen order."""
        seen: dict[str, None] = {}
        for f in self.findings:
            seen.setdefault(f.check, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.name,
            "blocked": self.blocked,
            "score": round(float(self.score), 4),
            "findings": [f.to_dict() for f in self.findings],
        }


@runtime_checkable
class Detector(Protocol):
    """A pluggable injection detector.

    ``scan`` receives the normalized views of one text (see
    ``airlock.injection.normalize``) and returns findings; it must run in time
    linear in the text length and must not raise on any input. A learned model
    sets ``Finding.score``; heuristic checks may leave it None.
    """

    name: str

    def scan(self, views: Any) -> list[Finding]: ...
