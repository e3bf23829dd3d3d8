"""Audit log append speed vs a raw ``os.write`` of same-size lines, measured in the same process.

Run: ``PYTHONPATH=core .venv/bin/python tests/benchmarks/bench_audit.py [N]``. Prints a table of
appends per second and median / p99 per-append latency, and the ratio to the baseline. The
baseline is what any JSONL logger must pay at least (one O_APPEND write per line); the audit log
adds sanitising, redaction, canonical JSON, SHA-256, flock and the head-file update.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))

from airlock.audit import AuditLog, verify  # noqa: E402
from airlock.events import AuditRecord  # noqa: E402


def record(i: int, size: int) -> AuditRecord:
    return AuditRecord(
        timestamp="2026-01-01T00:00:00.000000Z", session_id="sess-1234", agent_name="researcher",
        tool_name="write_file", tool_input={"path": f"/home/u/project/file_{i}.txt", "content": "lorem ipsum " * (size // 12)},
        execution_time_ms=None, error=None, event="before_tool", decision="allowed", decided_by="policy:default",
        threat_level="LOW", findings=[], reason="allowed by rule", risk="high", call_id=f"call-{i}",
        agent={"name": "researcher", "pid": 4242, "exe": "/usr/bin/python3"},
    )


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        fn(i)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return out


def row(name: str, lat: list[float], base: float | None) -> str:
    med = statistics.median(lat)
    p99 = sorted(lat)[int(len(lat) * 0.99) - 1]
    per_s = len(lat) / (sum(lat) / 1e6)
    ratio = f"{med / base:7.1f}x" if base else "   1.0x"
    return f"{name:<34} {per_s:>12,.0f} {med:>12.1f} {p99:>10.1f} {ratio}"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(f"audit appends, N={n} per case (latency in microseconds)")
    print(f"{'case':<34} {'appends/s':>12} {'median us':>12} {'p99 us':>10} {'vs raw':>8}")
    with tempfile.TemporaryDirectory() as d:
        for size in (200, 1000, 10_000):
            log = AuditLog(Path(d) / f"audit_{size}.jsonl", max_bytes=1 << 34)
            line_len = len(log.append(record(-1, size)).hash) and os.path.getsize(log.path)
            line = b"x" * (line_len - 1) + b"\n"
            fd = os.open(Path(d) / f"raw_{size}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            raw = timed(lambda i: os.write(fd, line), n)
            os.close(fd)
            recs = [record(i, size) for i in range(n)]
            ours = timed(lambda i: log.append(recs[i]), n)
            base = statistics.median(raw)
            if size == 1000:
                base_1k = base
            print(row(f"raw os.write, {line_len} B lines", raw, None))
            print(row(f"AuditLog.append, {line_len} B lines", ours, base))
            log.close()
        t0 = time.perf_counter()
        rep = verify(Path(d) / "audit_1000.jsonl")
        dt = time.perf_counter() - t0
        assert rep.ok, rep.problem
        print(f"{'verify (chain check), 1663 B lines':<34} {rep.records / dt:>12,.0f} records/s")
        log = AuditLog(Path(d) / "audit_fsync.jsonl", fsync=True)
        m = max(50, n // 50)
        ours = timed(lambda i: log.append(record(i, 1000)), m)
        print(row(f"AuditLog(fsync=True), N={m}", ours, base_1k))


if __name__ == "__main__":
    main()
