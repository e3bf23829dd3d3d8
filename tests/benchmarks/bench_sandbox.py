"""End-to-end cost of one sandboxed ``print(1)`` against a plain interpreter start, same process.

    PYTHONPATH=core python tests/benchmarks/bench_sandbox.py [--runs 50]

Rows: plain ``subprocess.run([python, '-c', 'print(1)'])`` (the baseline, with the same child
interpreter), the same with ``-I -S`` (what the sandbox starts), bare bubblewrap around it, the
layer-1 check (with its rewrite and compile) alone, and ``airlock.sandbox.execute_code`` (check + bwrap + rlimits + seccomp +
capped I/O). Medians and p90 in milliseconds; ratios against the baseline. Target: under 30 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))

from airlock.sandbox import _bwrap, execute_code, sandbox_status  # noqa: E402
from airlock.sandbox._ast_policy import prepare  # noqa: E402


def measure_interleaved(fns: list[Callable[[], object]], runs: int) -> list[list[float]]:
    """Round-robin over the cases so a busy machine slows them alike and the ratios stay fair."""
    for fn in fns:
        fn()  # warm-up (also the sandbox's one-time probe)
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            out[i].append((time.perf_counter() - t) * 1000.0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    status = sandbox_status()
    if not status["usable"]:
        print(f"sandbox not usable here: {status['problems']}")
        return 2
    py = _bwrap.child_python()
    argv = _bwrap._bwrap_argv("/usr/bin/bwrap", py, _bwrap.Limits())[:-1] + ["print(1)"]
    rows = [
        ("plain subprocess python -c print(1)", lambda: subprocess.run([py, "-c", "print(1)"], capture_output=True)),
        ("plain subprocess python -I -S -B", lambda: subprocess.run([py, "-I", "-S", "-B", "-c", "print(1)"],
                                                                    capture_output=True)),
        ("bwrap namespaces only (no runner)", lambda: subprocess.run(argv, capture_output=True,
                                                                     **_bwrap._drop_kwargs())),
        ("layer-1 check + rewrite + compile", lambda: prepare("print(1)")),
        ("execute_code('print(1)') end to end", lambda: execute_code("print(1)")),
    ]
    timings = measure_interleaved([fn for _, fn in rows], args.runs)
    results = [(name, ts) for (name, _), ts in zip(rows, timings)]
    base = statistics.median(results[0][1])
    print(f"sandbox mode: {status['mode']}, child python: {py}, runs: {args.runs}")
    print(f"{'case':40} {'median ms':>10} {'p90 ms':>9} {'x baseline':>11}")
    for name, ts in results:
        med = statistics.median(ts)
        p90 = sorted(ts)[int(0.9 * (len(ts) - 1))]
        print(f"{name:40} {med:10.2f} {p90:9.2f} {med / base:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
