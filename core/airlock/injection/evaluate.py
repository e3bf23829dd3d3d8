"""Measure the injection scanner on a labelled JSONL file: precision, recall, FPR, latency.

Kept in the core (not the CLI) so tests and the benchmark use the very same
arithmetic as ``airlock eval``. Each line is ``{"text": str, "label": 0|1,
"category": str}``; ``label`` 1 means the text is an injection. An item counts
as *flagged* when the scanner's level reaches ``threshold`` (MEDIUM by default).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..threat import ScanResult, ThreatLevel

__all__ = ["Item", "CategoryStats", "EvalReport", "load_jsonl", "evaluate", "DatasetError"]


class DatasetError(ValueError):
    """A line of the labelled file is not usable; the message names the line."""


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    label: int
    category: str = ""


@dataclass(slots=True)
class CategoryStats:
    total: int = 0
    flagged: int = 0

    @property
    def rate(self) -> float:
        return self.flagged / self.total if self.total else 0.0


@dataclass(slots=True)
class EvalReport:
    """Confusion counts, per-category flag rates and per-item latency of one run."""

    threshold: ThreatLevel
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    categories: dict[str, CategoryStats] = field(default_factory=dict)
    latencies_us: list[float] = field(default_factory=list)
    false_positives: list[tuple[str, str]] = field(default_factory=list)   # (category, text excerpt)
    false_negatives: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def latency_percentile(self, q: float) -> float:
        """Nearest-rank percentile of per-item latency in microseconds (0 when empty)."""
        if not self.latencies_us:
            return 0.0
        xs = sorted(self.latencies_us)
        k = min(len(xs) - 1, max(0, int(round(q / 100.0 * len(xs) + 0.5)) - 1))
        return xs[k]

    @property
    def latency_median_us(self) -> float:
        return self.latency_percentile(50)

    @property
    def latency_p99_us(self) -> float:
        return self.latency_percentile(99)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "threshold": self.threshold.name,
            "tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "fpr": round(self.fpr, 4),
            "f1": round(self.f1, 4),
            "latency_us": {"median": round(self.latency_median_us, 1), "p99": round(self.latency_p99_us, 1)},
            "categories": {c: {"total": s.total, "flagged": s.flagged, "rate": round(s.rate, 4)}
                           for c, s in sorted(self.categories.items())},
        }


def _parse_label(v: Any, lineno: int) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) and v in (0, 1):
        return v
    if isinstance(v, str) and v.strip().lower() in ("0", "1", "benign", "injection", "safe", "attack"):
        return 1 if v.strip().lower() in ("1", "injection", "attack") else 0
    raise DatasetError(f"line {lineno}: label must be 0 or 1, got {v!r}")


def load_jsonl(path: str | Path) -> Iterator[Item]:
    """Items of a labelled JSONL file; blank lines skipped, a malformed line raises DatasetError naming it."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"line {lineno}: not JSON ({exc.msg})") from None
            if not isinstance(d, dict) or not isinstance(d.get("text"), str) or "label" not in d:
                raise DatasetError(f"line {lineno}: needs an object with a string 'text' and a 'label'")
            yield Item(d["text"], _parse_label(d["label"], lineno), str(d.get("category") or ""))


def _family(category: str) -> str:
    """Top-level family of a category ("direct_injection:spikee:test" -> "direct_injection")."""
    return category.split(":", 1)[0] if category else "(none)"


def evaluate(items: Iterable[Item], scan: Callable[[str], ScanResult] | None = None, *,
             threshold: ThreatLevel | str | int = ThreatLevel.MEDIUM, keep_errors: int = 0,
             full_categories: bool = False) -> EvalReport:
    """Scan every item and tally. ``keep_errors`` keeps that many FP/FN excerpts for inspection.

    Per-category stats use the category's top-level family unless ``full_categories``.
    """
    if scan is None:
        from .scanner import scan_text as scan
    thr = ThreatLevel.parse(threshold)
    rep = EvalReport(threshold=thr)
    clock = time.perf_counter
    for it in items:
        t0 = clock()
        res = scan(it.text)
        rep.latencies_us.append((clock() - t0) * 1e6)
        flagged = res.level >= thr
        cat = it.category if full_categories else _family(it.category)
        st = rep.categories.setdefault(cat, CategoryStats())
        st.total += 1
        st.flagged += flagged
        if it.label:
            if flagged:
                rep.tp += 1
            else:
                rep.fn += 1
                if len(rep.false_negatives) < keep_errors:
                    rep.false_negatives.append((it.category, it.text[:300]))
        else:
            if flagged:
                rep.fp += 1
                if len(rep.false_positives) < keep_errors:
                    rep.false_positives.append((it.category, it.text[:300]))
            else:
                rep.tn += 1
    return rep
