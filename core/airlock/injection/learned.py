"""The learned injection detector: a hashed n-gram linear model, scored with numpy (or the same
computation in a small optional C kernel, ``_kernel.c``).

Patterns catch "ignore previous instructions"; this model catches paraphrases,
role-play jailbreaks and instructions planted in documents, from character and
word n-grams of the scanner's folded and decoded views (``_features.py``). The
weights ship in ``resources/models/injection.npz``, are loaded once, lazily,
on the first scan, and need neither PyTorch nor scikit-learn nor a download.

Long texts are scored in overlapping windows (``window`` characters, half
overlapping) from prefix sums, so the cost is linear in the length and an
injection in the middle of a long document is scored on its own window rather
than diluted by the whole. The best window becomes the finding's evidence: the
``EVIDENCE_CHARS`` span in it with the highest summed weight.

Score -> severity: ``score >= threshold`` is MODERATE (the scanner grades one
moderate finding MEDIUM), ``score >= high`` is DANGEROUS (HIGH). Both thresholds
were chosen on held-out data by the training script (``airlock.injection.train``)
for a low false-positive rate; per-source thresholds may override them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..threat import Finding, Severity
from ._features import FeatureSpec, extract, feature_text
from ._scoring import WindowScorer

__all__ = ["LearnedModel", "LearnedDetector", "load_model", "default_model", "MODEL_RESOURCE", "EVIDENCE_CHARS"]

log = logging.getLogger(__name__)

MODEL_RESOURCE = "models/injection.npz"
EVIDENCE_CHARS = 120
#: the environment variable that points the detector at a retrained model file
MODEL_ENV = "AIRLOCK_INJECTION_MODEL"


@dataclass
class WindowScore:
    """The best window of one text: its probability and its span in the feature text."""

    score: float
    start: int
    end: int
    evidence_start: int
    evidence_end: int
    #: words in the whole text (capped at the window's count for long texts): how much evidence there is
    words: int = 1 << 30
    #: how many windows were scored: the best of many windows is more often high by chance
    windows: int = 1


@dataclass
class LearnedModel:
    """Weights plus everything needed to use them: feature spec, thresholds, window size."""

    weights: np.ndarray
    bias: float
    spec: FeatureSpec
    threshold: float = 0.5
    high: float = 0.9
    window: int = 256
    source_thresholds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    #: a text of fewer words is flagged only from the ``high`` score: a handful of n-grams is weak
    #: evidence, and short harmless requests ("Tell me a joke") share words with goal-hijack payloads
    min_words: int = 12
    #: per source, ``(beta, free)``: beta logits are added to the thresholds per e-fold of scored windows
    #: beyond ``free``. The best of W windows of a long benign file is high by chance far more often than
    #: one short text: reading a 40 kB source file must not look like an attack. A prompt gets 8 windows
    #: (~1 kB) free: what the user types is scored as it is; a long paste is treated like a document.
    #: Tool inputs likewise: a command is scored as it is, a 40 kB file an agent writes like a document.
    window_penalty: dict[str, tuple[float, int]] = field(default_factory=lambda: {
        "tool_output": (0.5, 1), "document": (0.5, 1), "user": (0.5, 8), "tool_input": (0.5, 8)})

    _window_scorer: WindowScorer | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.weights = np.ascontiguousarray(self.weights, dtype=np.float32)
        if self.weights.shape != (self.spec.dim,):
            raise ValueError(f"weights have shape {self.weights.shape}, the spec needs ({self.spec.dim},)")
        if self.spec.version >= 2 and self.weights[self.spec.null_bucket] != 0.0:
            self.weights = self.weights.copy()
            self.weights[self.spec.null_bucket] = 0.0  # n-grams inside character runs carry nothing
        if self.window < 64:
            raise ValueError("window must be at least 64 characters")

    # -- persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a compressed .npz (weights as float16: the model stays well under 3 MB)."""
        meta = dict(self.meta)
        meta["source_thresholds"] = self.source_thresholds
        meta["min_words"] = self.min_words
        meta["window_penalty"] = self.window_penalty
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                weights=self.weights.astype(np.float16),
                bias=np.array([self.bias], dtype=np.float64),
                spec=self.spec.to_array(),
                thresholds=np.array([self.threshold, self.high], dtype=np.float64),
                window=np.array([self.window], dtype=np.int64),
                meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str] | Any) -> "LearnedModel":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode()) if "meta" in z.files else {}
            src = {str(k): float(v) for k, v in (meta.pop("source_thresholds", {}) or {}).items()}
            min_words = int(meta.pop("min_words", 0))  # models saved before the rule: off
            penalty = {str(k): _penalty(v) for k, v in (meta.pop("window_penalty", None) or {}).items()}
            th = z["thresholds"]
            return cls(weights=z["weights"].astype(np.float32), bias=float(z["bias"][0]),
                       spec=FeatureSpec.from_array(z["spec"]), threshold=float(th[0]), high=float(th[1]),
                       window=int(z["window"][0]), source_thresholds=src, meta=meta, min_words=min_words,
                       window_penalty=penalty)

    # -- scoring
    def logit_of(self, text: str) -> float:
        """Whole-text logit: exactly the training objective's decision function."""
        fam = extract(text, self.spec)
        w = self.weights
        z = self.bias
        nc, nw = fam.n_chars, fam.n_words
        if nc:
            z += float(sum(float(w[i].sum(dtype=np.float64)) for i, _ in fam.chars)) / math.sqrt(nc)
        if nw:
            z += float(sum(float(w[i].sum(dtype=np.float64)) for i, _ in fam.words)) / math.sqrt(nw)
        return z

    def score_text(self, text: str, *, evidence: bool = True) -> WindowScore:
        """The best window's probability (the whole text if it fits in one window).

        ``evidence=False`` skips locating the evidence span (the cheap path when
        only the score matters); the span is then the whole best window.
        """
        ws, locate = self._score(text)
        if not evidence or locate is None:
            return ws
        es, ee = locate()
        return WindowScore(ws.score, ws.start, ws.end, ws.start + es, ws.start + ee, ws.words, ws.windows)

    def _score(self, text: str) -> tuple[WindowScore, Any]:
        """(best window without evidence, a callable giving the evidence span inside that window).

        One feature extraction serves both, so a flagged text is not featurized twice.
        """
        if not text:
            return WindowScore(_sigmoid(self.bias), 0, 0, 0, 0), None
        b = self._scorer().best(text)
        return (WindowScore(_sigmoid(b.z), b.start, b.end, b.start, b.end, b.words, b.windows),
                lambda: _best_span(b.contrib(), EVIDENCE_CHARS))

    def _scorer(self) -> WindowScorer:
        """The fused run-time scorer for these weights (built on first use)."""
        sc = self._window_scorer
        if sc is None or sc.source is not self.weights or sc.bias != self.bias or sc.window != self.window:
            sc = self._window_scorer = WindowScorer(self.weights, self.bias, self.spec, self.window)
        return sc

    def thresholds(self, source: str, words: int = 1 << 30, windows: int = 1, *,
                   threshold: float | None = None, high: float | None = None) -> tuple[float, float]:
        """(flag, dangerous) scores for a text of ``words`` words, scored in ``windows`` windows, from
        ``source``; ``threshold`` / ``high`` override the model's own. A short text is flagged only
        from the dangerous score; many windows raise both (see ``window_penalty``)."""
        base = threshold if threshold is not None else self.source_thresholds.get(source, self.threshold)
        top = high if high is not None else max(self.high, base)
        flag = max(base, top) if words < self.min_words else base
        return self.penalized(flag, source, windows), self.penalized(top, source, windows)

    def threshold_for(self, source: str, words: int = 1 << 30, windows: int = 1) -> float:
        """The score that flags a text of ``words`` words, scored in ``windows`` windows, from ``source``."""
        return self.thresholds(source, words, windows)[0]

    def penalized(self, th: float, source: str, windows: int) -> float:
        """``th`` raised for the number of windows the best one was chosen from (see ``window_penalty``)."""
        beta, free = self.window_penalty.get(source, (0.0, 1))
        if beta <= 0 or windows <= free or not 0.0 < th < 1.0:
            return th
        return _sigmoid(math.log(th / (1.0 - th)) + beta * math.log(windows / free))

    def flags(self, ws: WindowScore, source: str = "user") -> bool:
        return ws.score >= self.threshold_for(source, ws.words, ws.windows)


def _penalty(v: Any) -> tuple[float, int]:
    """A stored window penalty: ``[beta, free]``, or a bare beta (no free windows)."""
    if isinstance(v, (int, float)):
        return float(v), 1
    beta, free = v
    return float(beta), max(1, int(free))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


def _best_span(contrib: np.ndarray, width: int) -> tuple[int, int]:
    """The ``width``-long span of ``contrib`` with the largest sum (the whole array if shorter)."""
    n = len(contrib)
    if n <= width:
        return 0, n
    c = np.concatenate(([0.0], np.cumsum(contrib)))
    sums = c[width:] - c[:-width]
    i = int(np.argmax(sums))
    return i, i + width


# ----------------------------------------------------------------------------- loading
_lock = threading.Lock()
_default: LearnedModel | None = None


def load_model(path: str | os.PathLike[str] | None = None) -> LearnedModel:
    """Load a model file; ``None`` means ``$AIRLOCK_INJECTION_MODEL`` or the packaged one."""
    if path is None:
        path = os.environ.get(MODEL_ENV) or None
    if path is not None:
        return LearnedModel.load(Path(path))
    return LearnedModel.load(default_model_path())


def default_model_path() -> Path:
    """``resources/models/injection.npz`` of the checkout, or of the installed data files."""
    from .._dirs import repo_resources_dir

    return repo_resources_dir() / MODEL_RESOURCE


def default_model() -> LearnedModel:
    """The shared model, loaded on first use (so ``import airlock`` stays fast)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = load_model()
    return _default


# ----------------------------------------------------------------------------- detector
class LearnedDetector:
    """:class:`airlock.threat.Detector` over the learned model; one finding when the score passes.

    ``model``: a :class:`LearnedModel` (default: the packaged one, loaded lazily).
    ``threshold`` / ``high``: override the model's thresholds.
    ``report_below``: also emit an INFO finding with the score when it is under the
    threshold (off by default: the scanner's findings list stays about threats).
    """

    name = "learned"

    def __init__(self, model: LearnedModel | None = None, *, threshold: float | None = None,
                 high: float | None = None, report_below: bool = False) -> None:
        self._model = model
        self._threshold = threshold
        self._high = high
        self.report_below = report_below

    @property
    def model(self) -> LearnedModel:
        if self._model is None:
            self._model = default_model()
        return self._model

    def score(self, views: Any) -> float:
        """The probability that the text behind ``views`` is an injection."""
        text, _ = feature_text(views)
        return self.model.score_text(text, evidence=False).score

    def scan(self, views: Any) -> list[Finding]:
        model = self.model
        text, spans = feature_text(views)
        ws, locate = model._score(text)
        source = getattr(views, "source", "user")
        threshold, high = model.thresholds(source, ws.words, ws.windows, threshold=self._threshold, high=self._high)
        if ws.words < model.min_words and ws.score >= threshold:
            severity = Severity.MODERATE  # a short text reaches at most MODERATE: little evidence
        elif ws.score >= high:
            severity = Severity.DANGEROUS
        elif ws.score >= threshold:
            severity = Severity.MODERATE
        elif self.report_below:
            severity = Severity.INFO
        else:
            return []
        if locate is not None:  # flagged (rare): locate the evidence from the same features
            es, ee = locate()
            ws = WindowScore(ws.score, ws.start, ws.end, ws.start + es, ws.start + ee, ws.words, ws.windows)
        start, end, decoded_from = _original_span(views, ws.evidence_start, ws.evidence_end, spans)
        # evidence is what the user wrote (when the span maps back to it), not the folded view
        original = views.text[start:end] if not decoded_from and 0 <= start < end <= len(views.text) else ""
        evidence = " ".join((original or text[ws.evidence_start:ws.evidence_end]).split())
        if len(evidence) > EVIDENCE_CHARS:
            evidence = evidence[: EVIDENCE_CHARS - 3] + "..."
        of = f" of {ws.windows}" if ws.windows > 1 else ""
        detail = f"score {ws.score:.3f} (threshold {threshold:.3f}, window {ws.start}-{ws.end}{of})"
        return [Finding(check=self.name, start=start, end=end, evidence=evidence, severity=severity,
                        score=ws.score, decoded_from=decoded_from, detail=detail)]


def _original_span(views: Any, fs: int, fe: int, spans: list[tuple[int, int, Any]]) -> tuple[int, int, str]:
    """Map a span of the feature text back to the original text (and name its encoding)."""
    folded_len = len(views.folded)
    if fs < folded_len:
        try:
            s, e = views.offsets.span(fs, min(fe, folded_len))
            return s, e, ""
        except Exception:  # a malformed offset map must not lose the finding
            return 0, len(views.text), ""
    for start, end, d in spans:
        if fs < end:
            return d.start, d.end, d.encoding
    return 0, len(views.text), ""
