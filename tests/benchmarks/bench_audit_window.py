"""Audit window on a big log: index build, time to first rows, search, memory, time to visible.

Run (offscreen Qt)::

    QT_QPA_PLATFORM=offscreen PYTHONPATH=core:desktop .venv/bin/python tests/benchmarks/bench_audit_window.py \
        [--n 1000000] [--dir /tmp/bench-audit-window] [--appends 50]

The log is written by ``_audit_gen`` (real line format, valid hash chain, written directly:
``AuditLog.append`` would take minutes for a million records) and reused from ``--dir`` when it
already has ``--n`` records. Baseline, measured in the same process: reading and ``json.loads``-ing
every line (what any viewer that parses the log pays, before doing anything). Prints medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "core"), str(ROOT / "desktop"), str(Path(__file__).resolve().parent)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _audit_gen import generate  # noqa: E402

from airlock.audit import AuditLog  # noqa: E402
from airlock.audit_index import AuditIndex  # noqa: E402
from airlock.events import (Action, AgentIdentity, AuditRecord, BeforeToolEvent, Decision, Outcome,  # noqa: E402
                            RiskLevel, Verdict)

QUERIES = ["", "secret", "agent:coder decision:denied", "budget invoice tool:write", "level:critical last:30d",
           "file_99999", "tool:*mail zulu"]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait(app, cond, timeout: float = 600.0) -> float:  # type: ignore[no-untyped-def]
    """Process Qt events until ``cond()``; returns the seconds it took."""
    t0 = time.perf_counter()
    while not cond():
        app.processEvents()
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("benchmark condition not met")
        time.sleep(0.0005)
    return time.perf_counter() - t0


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:9.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/bench-audit-window")
    ap.add_argument("--appends", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep-index", action="store_true", help="reuse an index left by an earlier run")
    a = ap.parse_args()
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    log_path = d / "audit.jsonl"
    marker = d / "records.txt"
    rows: list[tuple[str, str]] = []

    if not (log_path.exists() and marker.exists() and marker.read_text().strip() == str(a.n)):
        for p in d.glob("audit.jsonl*"):
            p.unlink()
        t = time.perf_counter()
        generate(log_path, a.n)
        marker.write_text(str(a.n))
        rows.append(("generate log (direct lines, valid chain)", f"{time.perf_counter() - t:9.1f} s"))
    size_mb = log_path.stat().st_size / 1e6
    rows.append(("log size", f"{size_mb:9.1f} MB, {a.n:,} records"))

    t = time.perf_counter()
    n = 0
    with open(log_path, "rb") as f:
        for line in f:
            json.loads(line)
            n += 1
    base = time.perf_counter() - t
    rows.append(("baseline: read + json.loads every line", f"{base:9.1f} s"))

    idx_path = d / "index.sqlite3"
    for suffix in ("", "-wal", "-shm") if not a.keep_index else ():
        try:
            os.unlink(str(idx_path) + suffix)
        except FileNotFoundError:
            pass
    rss0 = rss_mb()
    t = time.perf_counter()
    idx = AuditIndex(log_path, idx_path)
    res = idx.catch_up()
    build = time.perf_counter() - t
    total = idx.size()  # a.n, plus the records appended by an earlier run of this benchmark
    assert total >= a.n, res
    label = "index catch-up (index kept from a previous run)" if a.keep_index else "index build (cold, in process)"
    rows.append((label, f"{build:9.1f} s  ({build / base:.1f}x baseline)"))
    rows.append(("index size on disk", f"{idx_path.stat().st_size / 1e6:9.1f} MB"))
    rows.append(("RSS growth during build", f"{rss_mb() - rss0:9.1f} MB"))

    timings: dict[str, list[float]] = {q: [] for q in QUERIES}
    counts: dict[str, list[float]] = {q: [] for q in QUERIES}
    hits: dict[str, int] = {}
    for _ in range(a.repeat):
        for q in QUERIES:
            t = time.perf_counter()
            idx.search(q)
            timings[q].append(time.perf_counter() - t)
            t = time.perf_counter()
            hits[q] = idx.count(q)
            counts[q].append(time.perf_counter() - t)
    idx.close()

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from airlock_desktop.audit_window import AuditWindow

    rss_app = rss_mb()
    first_rows, counted = [], []
    w = None
    for _ in range(a.repeat):
        if w is not None:
            w.close()
            w.model.stop()
            w.deleteLater()
            app.processEvents()
        t = time.perf_counter()
        w = AuditWindow(log_path, idx_path)
        w.show()
        first_rows.append(wait(app, lambda: w.model.ready and w.model.data(w.model.index_of(0, 2)) not in (None, "…")))
        counted.append(wait(app, lambda: w.model.counted) + first_rows[-1])
    assert w is not None and w.model.rowCount() == total, w.model.rowCount()
    rows.append(("window: time to first rows (warm index)", med(first_rows)))
    rows.append(("window: time to full row count", med(counted)))

    deep = []
    for frac in (0.5, 0.9, 0.25, 0.75, 0.1):
        r = int(total * frac)
        w.table.scrollTo(w.model.index_of(r, 0))
        t = time.perf_counter()
        deep.append(wait(app, lambda: w.model.row_at(r) is not None))
    rows.append(("window: jump to a deep row (page by offset)", med(deep)))

    ui_first, ui_count = {}, {}
    for q in QUERIES:
        f, c = [], []
        for _ in range(a.repeat):
            t = time.perf_counter()
            w.model.set_query(q)
            f.append(wait(app, lambda: w.model.fresh))
            c.append(wait(app, lambda: w.model.counted) + f[-1])
        ui_first[q], ui_count[q] = f, c
    w.model.set_query("")
    wait(app, lambda: w.model.counted and w.model.rowCount() == total)

    # new records: real writer (AuditLog) -> watchdog -> index catch-up -> model refresh -> row 0
    log = AuditLog(log_path, max_bytes=1 << 40)  # the generated file is one big file: do not rotate it
    lat = []
    for i in range(a.appends):
        ev = BeforeToolEvent(tool_name=f"bench_tool_{i}", tool_input={"i": i}, agent=AgentIdentity(name="bench"))
        v = Verdict(Action.ALLOW, "", "policy", risk=RiskLevel.LOW)
        rec = log.append(AuditRecord.from_decision(ev, Decision(Outcome.ALLOWED, "ok", "policy", v, ev.tool_input)))
        t = time.perf_counter()
        lat.append(wait(app, lambda: (w.model.row_at(0) or {}).get("seq") == rec.seq, timeout=30))
        wait_until = time.perf_counter() + 0.05
        while time.perf_counter() < wait_until:
            app.processEvents()
            time.sleep(0.002)
    log.close()
    lat_sorted = sorted(lat)
    rows.append((f"new record visible in row 0 (n={len(lat)})",
                 f"{med(lat)}  p90 {lat_sorted[int(len(lat) * 0.9) - 1] * 1000:.1f} ms  "
                 f"max {lat_sorted[-1] * 1000:.1f} ms"))
    rows.append(("RSS of the process with the window open", f"{rss_mb():9.1f} MB (before Qt windows: "
                                                          f"{rss_app:.1f} MB)"))
    w.close()
    w.model.stop()

    print(f"\nAudit window benchmark: {a.n:,} records, median of {a.repeat} runs; host load avg "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    width = max(len(k) for k, _ in rows) + 2
    for k, v in rows:
        print(f"{k:<{width}}{v}")
    print(f"\n{'query':<34}{'hits':>10}{'index search':>16}{'index count':>16}{'UI first rows':>16}"
          f"{'UI counted':>16}")
    for q in QUERIES:
        print(f"{q or '(all)':<34}{hits[q]:>10,}{med(timings[q]):>16}{med(counts[q]):>16}{med(ui_first[q]):>16}"
              f"{med(ui_count[q]):>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
