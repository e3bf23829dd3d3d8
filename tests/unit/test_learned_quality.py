"""Quality floor of the learned injection detector on the shared dev set (skips without ../shared).

The floors sit a little under the measured numbers (see bench_learned.py --quality):
they catch a broken model, feature drift between training and inference, or a
threshold that lets the false-positive rate run away; they are not a tuning target.
"""

from __future__ import annotations

import json

import pytest

from airlock.injection import Scanner, normalize
from airlock.injection.detectors import default_detectors
from airlock.injection.learned import LearnedDetector
from airlock.threat import ThreatLevel
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def dev_rows() -> list[dict[str, object]]:
    path = shared_file("data", "injection", "dev.jsonl")
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def _rates(pred: list[bool], y: list[int]) -> tuple[float, float]:
    tp = sum(p and t for p, t in zip(pred, y))
    fp = sum(p and not t for p, t in zip(pred, y))
    return tp / sum(y), fp / (len(y) - sum(y))


@pytest.mark.timeout(600)
def test_dev_quality_floor(dev_rows: list[dict[str, object]]) -> None:
    y = [int(r["label"]) for r in dev_rows]  # type: ignore[arg-type]
    det = LearnedDetector()
    rules = Scanner(detectors=default_detectors())
    learned: list[bool] = []
    combined: list[bool] = []
    for r in dev_rows:
        text = str(r["text"])
        hit = bool(det.scan(normalize(text)))
        learned.append(hit)
        combined.append(hit or rules.scan(text).level >= ThreatLevel.MEDIUM)
    rec, fpr = _rates(learned, y)
    assert rec >= 0.60 and fpr <= 0.01, f"learned alone: recall {rec:.3f}, FPR {fpr:.4f}"
    crec, cfpr = _rates(combined, y)
    assert crec >= 0.75 and cfpr <= 0.025, f"rules OR learned: recall {crec:.3f}, FPR {cfpr:.4f}"
    assert crec > rec  # the two detectors are complementary
