"""Score the redaction engine on a labelled JSONL set (``{"text", "spans", "ignore_spans", "tier"}``).

Counts as in the data set's SOURCES.md: a labelled span is *found* when a detected span overlaps
it and *fully covered* when >= 90% of its characters are masked; a benign or near-miss document is
*flagged* when any detection lies outside its ignore spans. Precision is over detected spans.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import SecretFinding, find_secrets


@dataclass
class KindScore:
    total: int = 0
    found: int = 0
    covered: int = 0

    def row(self) -> dict[str, Any]:
        return {"total": self.total, "recall": self.found / self.total if self.total else 1.0,
                "full_cover": self.covered / self.total if self.total else 1.0}


@dataclass
class EvalReport:
    kinds: dict[str, KindScore] = field(default_factory=lambda: defaultdict(KindScore))
    tiers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # [flagged, docs]
    true_pos: int = 0
    false_pos: int = 0
    times_us: list[float] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        total = sum(k.total for k in self.kinds.values())
        found = sum(k.found for k in self.kinds.values())
        covered = sum(k.covered for k in self.kinds.values())
        det = self.true_pos + self.false_pos
        return {
            "recall": found / total if total else 1.0,
            "full_cover_recall": covered / total if total else 1.0,
            "precision": self.true_pos / det if det else 1.0,
            "flagged": {t: (f / n if n else 0.0) for t, (f, n) in self.tiers.items()},
            "median_us": statistics.median(self.times_us) if self.times_us else 0.0,
            "kinds": {k: v.row() for k, v in sorted(self.kinds.items())},
        }


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def evaluate(path: str | Path, finder: Callable[[str], list[SecretFinding]] = find_secrets) -> EvalReport:
    rep = EvalReport()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            doc = json.loads(line)
            text = doc["text"]
            t0 = time.perf_counter()
            found = finder(text)
            rep.times_us.append((time.perf_counter() - t0) * 1e6)
            spans = [(s["start"], s["end"]) for s in doc.get("spans", [])]
            ignore = [(s["start"], s["end"]) for s in doc.get("ignore_spans", [])]
            for s in doc.get("spans", []):
                ks = rep.kinds[s["kind"]]
                ks.total += 1
                span = (s["start"], s["end"])
                cov = sum(_overlap(span, (f.start, f.end)) for f in found)
                if cov:
                    ks.found += 1
                else:
                    rep.misses.append({"kind": s["kind"], "label": s.get("src_label"), "text": text[span[0]:span[1]][:80]})
                if cov >= 0.9 * (span[1] - span[0]):
                    ks.covered += 1
            outside = []
            for f in found:
                fs = (f.start, f.end)
                if any(_overlap(fs, sp) for sp in spans):
                    rep.true_pos += 1
                elif not any(_overlap(fs, ig) for ig in ignore):
                    rep.false_pos += 1
                    outside.append(f)
            tier = doc.get("tier", "?")
            rep.tiers[tier][1] += 1
            if outside and tier != "positive":
                rep.tiers[tier][0] += 1
                rep.flags.append({"tier": tier, "category": doc.get("category"),
                                  "found": [(f.kind, text[f.start:f.end][:60]) for f in outside]})
    return rep


def format_report(summary: dict[str, Any]) -> str:
    lines = [f"{'kind':<20} {'n':>4} {'recall':>7} {'cover':>7}"]
    for k, r in summary["kinds"].items():
        lines.append(f"{k:<20} {r['total']:>4} {r['recall']:>7.3f} {r['full_cover']:>7.3f}")
    lines.append(f"overall recall {summary['recall']:.3f}  full-cover {summary['full_cover_recall']:.3f}  "
                 f"span precision {summary['precision']:.3f}")
    lines.append("flagged documents: " + ", ".join(f"{t} {v:.1%}" for t, v in sorted(summary["flagged"].items())))
    lines.append(f"median time per document: {summary['median_us']:.1f} us")
    return "\n".join(lines)
