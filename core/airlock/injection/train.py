"""Train the learned injection detector (``python -m airlock.injection.train --out model.npz``).

Needs the optional ``train`` extra (scikit-learn); the run-time detector does not.
Reproducible: a fixed seed, a deterministic solver and deterministic features
give byte-identical weights for the same data.

Steps: featurize every text exactly as the run-time detector does
(``normalize`` -> ``feature_text`` -> hashed n-grams); fit an L2-regularized
logistic regression; choose the thresholds on *held-out* scores: out-of-fold
scores from K folds grouped by source (so a source's templates are never both
trained on and scored), scored through the run-time window scorer. The
threshold is the lowest score that keeps the held-out false-positive rate at
``--fpr`` (the ``high`` threshold at ``--high-fpr``); documents and tool outputs
get their own threshold at the same FPR on their benign rows. Grouping by
source makes these thresholds conservative (a source never seen in training
scores higher), which is the point: deployment text comes from other sources.
Then the final model is fit on all the data; the held-out thresholds for several
FPRs are kept in the model's metadata. Retraining on your own labelled data: pass more ``--train`` files
(JSON lines with ``text`` and ``label``, optional ``source``).

With ``--select FILE`` the thresholds are chosen on those rows instead, for the *whole pipeline*:
the lowest learned threshold at which "the other detectors flag it, or the model does" stays at
``--fpr`` on the selection rows' benign texts (the model adds recall on top of the rules, so it
gets the false-positive budget the rules leave). ``--select-mode heldout`` trains on ``--train``
only and scores the selection rows (the numbers to report); ``--select-mode cv`` also trains on
the selection rows and takes the thresholds from K-fold out-of-fold scores of those rows (the
model to ship: it has seen more sources).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._features import FeatureSpec, feature_text, vectorize
from .learned import LearnedModel
from .normalize import normalize

__all__ = ["load_rows", "featurize", "fit", "train", "threshold_at_fpr", "pipeline_threshold", "rules_flags",
           "evaluate", "main"]

DEFAULT_SEED = 20261123


def load_rows(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """JSON lines with ``text`` (str) and ``label`` (0/1); bad lines are an error, not skipped."""
    rows: list[dict[str, Any]] = []
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                r = json.loads(line)
                if not isinstance(r.get("text"), str) or r.get("label") not in (0, 1):
                    raise ValueError(f"{p}:{n}: need a str 'text' and a 0/1 'label'")
                rows.append(r)
    return rows


def texts_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The feature text of every row (normalize + decode, as at run time)."""
    return [feature_text(normalize(r["text"]))[0] for r in rows]


def featurize(ftexts: Sequence[str], spec: FeatureSpec) -> Any:
    """A CSR matrix (rows x 2**bits); duplicate n-grams are summed."""
    from scipy.sparse import csr_matrix

    indptr = [0]
    idx_parts: list[np.ndarray] = []
    val_parts: list[np.ndarray] = []
    for t in ftexts:
        i, v = vectorize(t, spec)
        idx_parts.append(i)
        val_parts.append(v)
        indptr.append(indptr[-1] + len(i))
    idx = np.concatenate(idx_parts) if idx_parts else np.zeros(0, np.int64)
    val = np.concatenate(val_parts) if val_parts else np.zeros(0, np.float32)
    m = csr_matrix((val.astype(np.float64), idx, np.array(indptr)), shape=(len(ftexts), spec.dim))
    m.sum_duplicates()
    return m


def fit(X: Any, y: np.ndarray, *, C: float, seed: int) -> tuple[np.ndarray, float]:
    """L2 logistic regression, balanced classes; returns (weights, bias)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=200, random_state=seed,
                             tol=1e-5)
    clf.fit(X, y)
    return clf.coef_[0].astype(np.float64), float(clf.intercept_[0])


def threshold_at_fpr(scores_neg: np.ndarray, fpr: float) -> float:
    """The lowest threshold whose false-positive rate on these negatives is <= ``fpr``."""
    s = np.sort(np.asarray(scores_neg, dtype=np.float64))[::-1]
    k = int(np.floor(fpr * len(s)))          # at most k negatives may score >= threshold
    if len(s) == 0:
        return 0.5
    if k >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[k], np.inf))  # strictly above the (k+1)-th highest negative


def _groups(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    names = [str(r.get("source", "")).split(" @ ")[0].split(" ")[0] for r in rows]
    uniq = {n: i for i, n in enumerate(sorted(set(names)))}
    return np.array([uniq[n] for n in names])


def oof_scores(rows: Sequence[dict[str, Any]], ftexts: Sequence[str], X: Any, y: np.ndarray, *,
               spec: FeatureSpec, C: float, window: int, folds: int, seed: int) -> np.ndarray:
    """Held-out (out-of-fold) window scores, folds grouped by source so templates do not leak."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    groups = _groups(rows)
    if len(set(groups.tolist())) >= folds:
        splitter = GroupKFold(n_splits=folds)
        split = splitter.split(X, y, groups)
    else:
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y)
    out = np.zeros(len(y), dtype=np.float64)
    for tr, te in split:
        w, b = fit(X[tr], y[tr], C=C, seed=seed)
        m = LearnedModel(weights=w, bias=b, spec=spec, window=window)
        for i in te:
            out[i] = m.score_text(ftexts[i], evidence=False).score
    return out


def evaluate(model: LearnedModel, ftexts: Sequence[str], y: np.ndarray, threshold: float | None = None
             ) -> dict[str, float]:
    """Precision, recall, FPR, F1 of the window scorer at ``threshold`` (default: the model's)."""
    ws = [model.score_text(t, evidence=False) for t in ftexts]
    if threshold is None:  # as the detector decides: short texts need the high score
        return metrics(np.array([model.flags(w) for w in ws]), y)
    return metrics(np.array([w.score >= threshold for w in ws]), y)


def metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred = np.asarray(pred, dtype=bool)
    y = np.asarray(y, dtype=bool)
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": prec, "recall": rec, "fpr": fp / (fp + tn) if fp + tn else 0.0,
            "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


#: category families of the shared data, by the scanner source they stand for
_SOURCE_OF_FAMILY = {
    "benign_document": "document", "benign_code": "document", "indirect_document": "document",
    "benign_tool_output": "tool_output", "indirect_tool_output": "tool_output",
}
MIN_SOURCE_NEGATIVES = 200


def source_thresholds(rows: Sequence[dict[str, Any]], oof: np.ndarray, y: np.ndarray, fpr: float
                      ) -> dict[str, float]:
    """A threshold per scanner source (documents, tool outputs) at the same held-out FPR on that source's
    benign rows; only where there are enough of them (``scan_source`` in a row, else its category family)."""
    kinds = np.array([str(r.get("scan_source") or _SOURCE_OF_FAMILY.get(str(r.get("category", "")).split(":")[0], ""))
                      for r in rows])
    out: dict[str, float] = {}
    for kind in ("document", "tool_output"):
        neg = oof[(kinds == kind) & (y == 0)]
        if len(neg) >= MIN_SOURCE_NEGATIVES:
            out[kind] = threshold_at_fpr(neg, fpr)
    return out


def rules_flags(texts: Sequence[str]) -> np.ndarray:
    """Which texts the scanner's other detectors flag (level >= MEDIUM) without the learned model."""
    from ..threat import ThreatLevel
    from .scanner import Scanner

    others = Scanner(detectors=[d for d in Scanner().detectors if d.name != "learned"])
    return np.array([others.scan(t).level >= ThreatLevel.MEDIUM for t in texts], dtype=bool)


def pipeline_threshold(scores: np.ndarray, words: np.ndarray, rules: np.ndarray, y: np.ndarray, *,
                       fpr: float, high: float, min_words: int) -> float:
    """The lowest learned threshold at which (rules OR model) keeps the FPR on these rows <= ``fpr``.

    Short texts need ``max(threshold, high)``, as at run time. The search lowers the threshold past
    one negative's score at a time, highest first, until the budget is spent."""
    neg = y == 0
    n_neg = int(neg.sum())
    if n_neg == 0:
        return 0.5
    short = words < min_words
    best = float(np.nextafter(max(float(scores[neg].max()), high), np.inf))
    for cand in np.unique(scores[neg])[::-1]:
        th = float(np.nextafter(cand, -np.inf))     # flag this negative too?
        learned = np.where(short, scores >= max(th, high), scores >= th)
        if np.sum((rules | learned) & neg) > fpr * n_neg:
            break
        best = th
    return best


def _select(rows: Sequence[dict[str, Any]], X: Any, y: np.ndarray, select: Sequence[dict[str, Any]], *,
            spec: FeatureSpec, C: float, window: int, fpr: float, high_fpr: float, folds: int, seed: int,
            mode: str, say: Any) -> tuple[LearnedModel, dict[str, Any]]:
    """Thresholds chosen on the selection rows for the whole pipeline (see the module docstring)."""
    from scipy.sparse import vstack
    from sklearn.model_selection import StratifiedKFold

    sy = np.array([int(r["label"]) for r in select])
    stexts = texts_of(select)
    SX = featurize(stexts, spec)
    scores = np.zeros(len(select))
    words = np.zeros(len(select), dtype=np.int64)

    def score_into(m: LearnedModel, idx: Any) -> None:
        for i in idx:
            ws = m.score_text(stexts[i], evidence=False)
            scores[i], words[i] = ws.score, ws.words

    if mode == "heldout":
        w, b = fit(X, y, C=C, seed=seed)
        score_into(LearnedModel(weights=w, bias=b, spec=spec, window=window), range(len(select)))
    elif mode == "cv":
        for k, (tr, te) in enumerate(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(SX, sy)):
            wk, bk = fit(vstack([X, SX[tr]]).tocsr(), np.concatenate([y, sy[tr]]), C=C, seed=seed)
            score_into(LearnedModel(weights=wk, bias=bk, spec=spec, window=window), te)
            say(f"selection fold {k + 1}/{folds} scored")
        w, b = fit(vstack([X, SX]).tocsr(), np.concatenate([y, sy]), C=C, seed=seed)
    else:
        raise ValueError(f"unknown selection mode {mode!r}")
    rules = rules_flags([str(r["text"]) for r in select])
    model = LearnedModel(weights=w, bias=b, spec=spec, window=window)
    high = threshold_at_fpr(scores[sy == 0], high_fpr)
    th = pipeline_threshold(scores, words, rules, sy, fpr=fpr, high=high, min_words=model.min_words)
    high = max(high, th)
    learned = np.where(words < model.min_words, scores >= max(th, high), scores >= th)
    info = {"mode": mode, "rows": len(select), "rules": metrics(rules, sy),
            "learned": metrics(learned, sy), "pipeline": metrics(rules | learned, sy)}
    for k in ("rules", "learned", "pipeline"):
        info[k] = {m: round(v, 4) for m, v in info[k].items()}
        say(f"selection rows, {k}: recall {info[k]['recall']:.3f} fpr {info[k]['fpr']:.4f}")
    say(f"threshold {th:.4f}, high {high:.4f}")
    model.threshold, model.high = th, high
    return model, info


def train(rows: Sequence[dict[str, Any]], *, spec: FeatureSpec, C: float, window: int, fpr: float,
          high_fpr: float, folds: int, seed: int, log: Any = None,
          select: Sequence[dict[str, Any]] | None = None, select_mode: str = "heldout") -> LearnedModel:
    """Choose thresholds on out-of-fold scores (or on ``select`` rows), then fit on everything."""
    say = log or (lambda *_: None)
    if select:
        y = np.array([int(r["label"]) for r in rows])
        X = featurize(texts_of(rows), spec)
        model, info = _select(rows, X, y, select, spec=spec, C=C, window=window, fpr=fpr, high_fpr=high_fpr,
                              folds=folds, seed=seed, mode=select_mode, say=say)
        model.meta = {"trained_rows": len(rows) + (len(select) if select_mode == "cv" else 0),
                      "positives": int(y.sum()), "C": C, "seed": seed, "fpr_target": fpr,
                      "high_fpr_target": high_fpr, "folds": folds, "selection": info,
                      "spec": [spec.bits, list(spec.char_ngrams), list(spec.word_ngrams), spec.version]}
        return model
    t0 = time.perf_counter()
    y = np.array([int(r["label"]) for r in rows])
    ftexts = texts_of(rows)
    X = featurize(ftexts, spec)
    say(f"featurized {len(rows)} rows in {time.perf_counter() - t0:.1f}s")
    oof = oof_scores(rows, ftexts, X, y, spec=spec, C=C, window=window, folds=folds, seed=seed)
    th = threshold_at_fpr(oof[y == 0], fpr)
    high = max(th, threshold_at_fpr(oof[y == 0], high_fpr))
    held = metrics(oof >= th, y)
    table = {}
    for f in (0.002, 0.005, 0.01, 0.02, 0.05):
        t = threshold_at_fpr(oof[y == 0], f)
        table[str(f)] = {"threshold": round(t, 6), "recall": round(float(np.mean(oof[y == 1] >= t)), 4)}
    say(f"held-out (grouped {folds}-fold): threshold {th:.4f} recall {held['recall']:.3f} "
        f"fpr {held['fpr']:.4f} precision {held['precision']:.3f}; high {high:.4f}")
    src_th = source_thresholds(rows, oof, y, fpr)
    if src_th:
        say("per-source thresholds: " + ", ".join(f"{k} {v:.4f}" for k, v in src_th.items()))
    w, b = fit(X, y, C=C, seed=seed)
    meta = {"trained_rows": len(rows), "positives": int(y.sum()), "C": C, "seed": seed, "fpr_target": fpr,
            "high_fpr_target": high_fpr, "folds": folds, "heldout": {k: round(v, 4) for k, v in held.items()},
            "heldout_thresholds": table, "spec": [spec.bits, list(spec.char_ngrams), list(spec.word_ngrams), spec.version]}
    return LearnedModel(weights=w, bias=b, spec=spec, threshold=th, high=high, window=window,
                        source_thresholds=src_th, meta=meta)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m airlock.injection.train", description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="append", required=True, help="JSON-lines training file (repeatable)")
    ap.add_argument("--dev", action="append", default=[], help="JSON-lines file to report metrics on")
    ap.add_argument("--out", required=True, help="where to write the .npz model")
    ap.add_argument("--bits", type=int, default=18)
    ap.add_argument("--char-ngrams", default="3,4,5")
    ap.add_argument("--word-ngrams", default="1,2")
    ap.add_argument("--C", type=float, default=4.0)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--select", action="append", default=[],
                    help="JSON-lines file whose rows choose the thresholds for the whole pipeline (repeatable)")
    ap.add_argument("--select-mode", choices=("heldout", "cv"), default="heldout",
                    help="heldout: do not train on the selection rows; cv: train on them too, thresholds "
                         "from out-of-fold scores")
    ap.add_argument("--fpr", type=float, default=0.0175,
                    help="FPR for the MODERATE threshold (held-out; of the whole pipeline with --select)")
    ap.add_argument("--high-fpr", type=float, default=0.005, help="held-out FPR for the DANGEROUS threshold")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N rows only (tests)")
    a = ap.parse_args(argv)
    spec = FeatureSpec(bits=a.bits, char_ngrams=tuple(int(x) for x in a.char_ngrams.split(",") if x),
                       word_ngrams=tuple(int(x) for x in a.word_ngrams.split(",") if x))
    rows = load_rows(a.train)
    if a.limit:
        rows = rows[: a.limit]
    model = train(rows, spec=spec, C=a.C, window=a.window, fpr=a.fpr, high_fpr=a.high_fpr, folds=a.folds,
                  seed=a.seed, log=lambda m: print(m, file=sys.stderr),
                  select=load_rows(a.select) if a.select else None, select_mode=a.select_mode)
    for d in a.dev:
        drows = load_rows([d])
        dy = np.array([int(r["label"]) for r in drows])
        res = evaluate(model, texts_of(drows), dy)
        model.meta.setdefault("dev", {})[Path(d).name] = {k: round(v, 4) for k, v in res.items()}
        print(f"{d}: " + " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
    # which files the weights have seen: `airlock eval` warns when it is asked to score one of them
    model.meta["trained_on"] = [Path(f).name for f in a.train] + (
        [Path(f).name for f in a.select] if a.select_mode == "cv" else [])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(f"wrote {a.out} ({Path(a.out).stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
