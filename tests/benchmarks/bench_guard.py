"""Cost of a guarded call: security off (the one-check fast path) and on, next to a plain call.

    PYTHONPATH=core python tests/benchmarks/bench_guard.py [--n 20000]

Rows: a plain function call (baseline), @guard with nothing enabled, @guard with injection defense only,
with injection defense + policy, and with everything (audit log included, written to a temp dir).
The guarded tool is a no-risk one (``read_file``-like: allowed without asking), argument ~200 chars.
Medians of per-call wall time in microseconds, measured in batches; the machine may be noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))

ARG = ("Summarise the attached quarterly report and list the three biggest cost drivers, "
       "with one sentence each on why they grew; keep it under 120 words please. ") * 2


def per_call_us(fn, n: int, batch: int = 200) -> tuple[float, float]:
    samples = []
    for _ in range(max(1, n // batch)):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn(ARG)
        samples.append((time.perf_counter() - t0) / batch * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1] if len(samples) > 1 else samples[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    n = ap.parse_args().n
    tmp = tempfile.mkdtemp(prefix="airlock-bench-guard-")
    for var in ("CONFIG", "STATE", "DATA", "CACHE"):
        os.environ[f"XDG_{var}_HOME"] = os.path.join(tmp, var.lower())

    import airlock

    def plain(query: str) -> int:
        return len(query)

    guarded = airlock.guard(plain, name="internet_search")

    rows = []
    base, _ = per_call_us(plain, n)
    rows.append(("plain call (baseline)", base))
    rows.append(("@guard, nothing enabled", per_call_us(guarded, n)[0]))
    airlock.enable_injection_defense()
    guarded(ARG)  # first scan loads the learned model: not part of the steady state
    rows.append(("@guard + injection defense", per_call_us(guarded, n // 10)[0]))
    # the default rate limits (300 calls/min per tool) would refuse a benchmark loop: lift them here
    (Path(tmp) / "policy.toml").write_text('[limits]\nper_agent = "100000000/min"\nper_tool = "100000000/min"\n')
    airlock.enable_policy(Path(tmp) / "policy.toml")
    rows.append(("@guard + injection + policy", per_call_us(guarded, n // 10)[0]))
    airlock.enable_security(audit_path=Path(tmp) / "audit.jsonl", policy_path=Path(tmp) / "policy.toml")
    rows.append(("@guard + everything (audit, monitor)", per_call_us(guarded, n // 10)[0]))
    airlock.disable_security()
    rows.append(("@guard after disable_security()", per_call_us(guarded, n)[0]))

    print(f"argument: {len(ARG)} chars; medians of per-call time over batches of 200")
    print(f"{'case':<40} {'us/call':>10} {'vs plain':>10}")
    for name, us in rows:
        print(f"{name:<40} {us:10.2f} {us / base:9.1f}x")


if __name__ == "__main__":
    main()
