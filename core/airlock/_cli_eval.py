"""``airlock eval FILE``: measure the injection scanner on a labelled JSONL file.

Prints precision, recall, false-positive rate, per-category recall (flag rate
for benign categories) and per-item latency. The arithmetic lives in
``airlock.injection.evaluate`` so tests use the same numbers.
Exit codes: 0 measured, 2 unreadable or malformed file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("eval", help="measure the injection scanner on a labelled JSONL file",
                       description="Read JSONL lines {text, label (0/1), category} and report precision, "
                                   "recall, FPR, per-category recall and per-item latency.")
    p.add_argument("file", help="labelled JSONL file")
    p.add_argument("--threshold", default="medium",
                   help="lowest threat level counted as flagged: low, medium, high, critical (default medium)")
    p.add_argument("--full-categories", action="store_true",
                   help="report every category as written instead of its top-level family")
    p.add_argument("--show-errors", type=int, default=0, metavar="N",
                   help="also print up to N false positives and N false negatives")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .injection.evaluate import DatasetError, evaluate, load_jsonl
    from .threat import ThreatLevel

    try:
        thr = ThreatLevel.parse(args.threshold)
    except ValueError as exc:
        print(f"airlock eval: {exc}", file=sys.stderr)
        return 2
    try:
        rep = evaluate(load_jsonl(args.file), threshold=thr, keep_errors=max(0, args.show_errors),
                       full_categories=args.full_categories)
    except (OSError, DatasetError, UnicodeDecodeError) as exc:
        print(f"airlock eval: {args.file}: {exc}", file=sys.stderr)
        return 2
    seen = _model_trained_on(args.file)
    if seen:
        print(f"airlock eval: note: the learned model was trained on {seen}; these numbers are not held out "
              "(train with --select-mode heldout and point AIRLOCK_INJECTION_MODEL at it)", file=sys.stderr)
    if args.json:
        d = rep.to_dict()
        d["model_trained_on_this_file"] = bool(seen)
        if args.show_errors:
            d["false_positives"] = [{"category": c, "text": t} for c, t in rep.false_positives]
            d["false_negatives"] = [{"category": c, "text": t} for c, t in rep.false_negatives]
        print(json.dumps(d, indent=2))
        return 0
    print(f"items      {rep.n}  (flagged = level >= {thr.name})")
    print(f"precision  {rep.precision:.3f}   (tp {rep.tp}, fp {rep.fp})")
    print(f"recall     {rep.recall:.3f}   (fn {rep.fn})")
    print(f"FPR        {rep.fpr:.4f}  (tn {rep.tn})")
    print(f"latency    median {rep.latency_median_us:.0f} us, p99 {rep.latency_p99_us:.0f} us per item")
    print("per category (flagged / total):")
    width = max((len(c) for c in rep.categories), default=10)
    for cat, st in sorted(rep.categories.items()):
        print(f"  {cat:<{width}}  {st.flagged:>5} / {st.total:<5} {st.rate:6.1%}")
    for title, rows in (("false positives", rep.false_positives), ("false negatives", rep.false_negatives)):
        if rows:
            print(f"{title}:")
            for cat, text in rows:
                print(f"  [{cat}] {' '.join(text.split())[:160]}")
    return 0


def _model_trained_on(path: str) -> str:
    """The file's name when the learned model's metadata says it was trained on it, else ''."""
    from pathlib import Path

    try:
        from .injection.learned import default_model

        seen = default_model().meta.get("trained_on") or []
    except Exception:  # no model, or an unreadable one: nothing to warn about here
        return ""
    name = Path(path).name
    return name if name in seen else ""
