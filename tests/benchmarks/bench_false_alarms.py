"""False alarms on ordinary files: what the injection scanner says about text an agent reads all day.

Run: ``.venv/bin/python tests/benchmarks/bench_false_alarms.py [--files 400] [--source tool_output]``

Agents read source files and documentation constantly (``read_file``, ``cat``, ``grep``). None of the
files below is an attack, so every level above LOW is a false alarm: MEDIUM is recorded, HIGH asks
(for a tool call) or flags the output, CRITICAL withholds a tool output. The files are this machine's
Python standard library, its installed packages and ``/usr/share/doc``: a fixed, sorted sample, so
two runs on one machine read the same files. Prints the rate per level and which checks fired, for
the scanner with and without the learned detector.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "core"))

from airlock.injection import Scanner  # noqa: E402
from airlock.threat import Severity, ThreatLevel  # noqa: E402

MAX_CHARS = 50_000  # what a read_file tool would typically return at most


def sample(n: int) -> list[str]:
    """Every k-th file of a sorted list, so the sample is spread over the tree and repeatable."""
    stdlib = sysconfig.get_paths()["stdlib"]
    purelib = sysconfig.get_paths()["purelib"]
    pats = [f"{stdlib}/*.py", f"{stdlib}/*/*.py", f"{purelib}/*/*.py", f"{purelib}/*/README*",
            "/usr/share/doc/*/README*", "/usr/share/doc/*/*.md", "/usr/share/common-licenses/*"]
    files = sorted({f for p in pats for f in glob.glob(p) if os.path.isfile(f) and os.path.getsize(f) >= 200})
    step = max(1, len(files) // n)
    return files[::step][:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--source", default="tool_output", choices=("tool_output", "document", "user", "tool_input"))
    a = ap.parse_args()
    files = sample(a.files)
    texts = []
    for f in files:
        try:
            texts.append((f, open(f, encoding="utf-8", errors="replace").read()[:MAX_CHARS]))
        except OSError:
            pass
    full = Scanner(max_input_chars=2_000_000)
    rules = Scanner(detectors=[d for d in full.detectors if d.name != "learned"], max_input_chars=2_000_000)
    chars = sum(len(t) for _, t in texts)
    print(f"{len(texts)} files, {chars / max(1, len(texts)) / 1000:.1f} kB on average, scanned as {a.source!r}")
    print(f"{'scanner':<22}{'MEDIUM':>8}{'HIGH':>8}{'CRITICAL':>10}{'any':>8}")
    for name, sc in (("rules + learned", full), ("rules only", rules)):
        levels: collections.Counter[str] = collections.Counter()
        checks: collections.Counter[str] = collections.Counter()
        for _f, t in texts:
            r = sc.scan(t, source=a.source)
            levels[r.level.name] += 1
            if r.level >= ThreatLevel.MEDIUM:
                checks.update(f"{x.check} ({x.severity.value})" for x in r.findings if x.severity is not Severity.INFO)
        n = len(texts)
        flagged = n - levels["LOW"]
        print(f"{name:<22}{levels['MEDIUM'] / n:>8.1%}{levels['HIGH'] / n:>8.1%}{levels['CRITICAL'] / n:>10.1%}"
              f"{flagged / n:>8.1%}")
        print("    checks in flagged files: " + ", ".join(f"{k} {v}" for k, v in checks.most_common(8)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
