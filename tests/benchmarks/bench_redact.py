"""Redaction throughput (MB/s) on 10 kB and 1 MB texts vs in-process baselines.

    PYTHONPATH=core .venv/bin/python tests/benchmarks/bench_redact.py

Corpora: 'clean' (log/code-like text with no secret), 'dirty' (same with a secret every ~2 kB),
'adversarial' (runs built to stress regex engines). Baselines in the same process: ``str.translate``
(a pass that touches every char) and one trivial prefix regex (``sk-[A-Za-z0-9]{20,}``).
Prints medians of several runs; no assertions (timings are machine-dependent).

A second table: microseconds per call on a clean ~1 kB JSON argument string (the audit log's
typical string): the prefilter alone, the gated engine, every detector (``_fired=None``, the
pre-prefilter behaviour), the interim redactor, and the audit default (``redact_layered``:
engine + interim behind one prefilter) vs the old two full passes. CPU time, median of batches.
"""

from __future__ import annotations

import random
import re
import statistics
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))

from airlock import _redact  # noqa: E402
from airlock.redaction import find_secrets, redact, redact_layered  # noqa: E402
from airlock.redaction._gates import fired_gates  # noqa: E402

_WORDS = ("the request returned status 200 in 35 ms user_id=1842 path=/api/v1/items?page=3 "
          "def handler(event, context): return json.dumps(result) # TODO refactor "
          "INFO 2024-05-01T12:00:01Z worker-3 processed batch 77 of 120 commit a3f9c2d "
          "version 2.31.0 sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 ").split()
_SECRETS = ("xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD", "AKIAZ4RVQ7LMX2KPT5NW",
            "postgres://admin:S3cr3tPw9@db:5432/app", "DB_PASSWORD=8ae31cacf141669ddfb5da",
            "card 4111 1111 1111 1111", "mail jane.doe@corp.io", "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")


def corpus(kind: str, size: int, seed: int = 7) -> str:
    rnd = random.Random(seed)
    if kind == "adversarial":
        units = ["a" * 200 + "!", "password" * 20 + "=", "token=" * 30, "a." * 100 + "@", "1 " * 100,
                 "eyJ" + "a" * 100 + ".eyJ", "-----BEGIN PRIVATE KEY-----\n", "QUJD" * 50]
        out, n = [], 0
        while n < size:
            u = rnd.choice(units)
            out.append(u)
            n += len(u)
        return "".join(out)[:size]
    out, n, since = [], 0, 0
    while n < size:
        w = rnd.choice(_WORDS)
        if kind == "dirty" and since > 2000:
            w, since = rnd.choice(_SECRETS), 0
        out.append(w)
        n += len(w) + 1
        since += len(w) + 1
    return " ".join(out)[:size]


def mbps(fn, text: str, reps: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - t0)
    return len(text.encode()) / statistics.median(times) / 1e6


def main() -> None:
    table = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
    trivial = re.compile(r"sk-[A-Za-z0-9]{20,}")
    funcs = {
        "str.translate": lambda t: t.translate(table),
        "trivial regex": lambda t: trivial.sub("[X]", t),
        "find_secrets": find_secrets,
        "redact": redact,
    }
    print("MB/s of UTF-8 input (median of runs)")
    print(f"{'corpus':<12} {'size':>6} " + " ".join(f"{k:>14}" for k in funcs) + f" {'redact/regex':>13}")
    for kind in ("clean", "dirty", "adversarial"):
        for size, label, reps in ((10_000, "10kB", 41), (1_000_000, "1MB", 5)):
            text = corpus(kind, size)
            rates = {k: mbps(f, text, reps) for k, f in funcs.items()}
            print(f"{kind:<12} {label:>6} " + " ".join(f"{rates[k]:>14.2f}" for k in funcs)
                  + f" {rates['redact'] / rates['trivial regex']:>13.5f}")
    print("redact/regex: the engine's speed as a fraction of one trivial prefix regex over the same text")
    per_call()


def _cpu_us(fn, arg: str, n: int = 200, reps: int = 15) -> float:  # noqa: ANN001
    """Median CPU microseconds per call; each call gets a fresh copy so no cache can answer."""
    args = [arg + " " * (i % 7) + str(i) for i in range(n)]
    out = []
    for _ in range(reps):
        t0 = time.thread_time_ns()
        for a in args:
            fn(a)
        out.append((time.thread_time_ns() - t0) / n / 1000)
    return statistics.median(out)


def per_call() -> None:
    doc = ('{"path": "/home/u/project/src/module_3.py", "mode": "w", "content": "'
           + "def handler(event, context):\\n    return json.dumps(result)  # TODO refactor status 200\\n" * 11 + '"}')[:1024]
    rows = {
        "prefilter (RE2 sets)": fired_gates,
        "engine, gated": redact,
        "engine, every detector": lambda t: redact(t, _fired=None),
        "interim, all passes": _redact._redact,
        "audit default (layered)": redact_layered,
        "old default (engine+interim)": lambda t: _redact._redact(redact(t, _fired=None)),
    }
    print(f"\nclean {len(doc)}-char JSON string, CPU us per call (median)")
    for name, fn in rows.items():
        print(f"  {name:<30} {_cpu_us(fn, doc):8.1f}")


if __name__ == "__main__":
    main()
