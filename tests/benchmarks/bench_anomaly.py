"""False-alert rate on steady synthetic traffic, and detection delay for injected attacks.

    PYTHONPATH=core python tests/benchmarks/bench_anomaly.py [--days 3] [--agents 6] [--seed 7]

Steady traffic: each agent has its own mean rate (1-40 calls per active minute, Poisson), a fixed set of
tools, a 5% error rate, and idle gaps (it is active in 60% of minutes). After the steady days we inject,
per agent: a 10x burst, an error storm (every call fails), and a never-used tool, and report how long the
detector took to raise each. Simulated clock: no sleeping; the figure that matters is counts, not speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))

from airlock.monitor.anomaly import AnomalyDetector  # noqa: E402

T0 = 1_800_000_000.0


def simulate(days: int, agents: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    det = AnomalyDetector()
    profiles = []
    for i in range(agents):
        rate = float(rng.uniform(1, 40))
        tools = [f"tool_{j}" for j in range(int(rng.integers(2, 8)))]
        profiles.append((f"agent{i}", f"/usr/bin/agent{i}", rate, tools))
    minutes = days * 24 * 60
    false_alerts: dict[str, int] = {p[0]: 0 for p in profiles}
    by_signal: dict[str, int] = {}
    calls = 0
    started = time.perf_counter()
    for m in range(minutes):
        for name, exe, rate, tools in profiles:
            if rng.random() > 0.6:
                continue
            n = int(rng.poisson(rate))
            for k in range(n):
                now = T0 + m * 60 + k * (59.0 / max(n, 1))
                tool = tools[int(rng.integers(len(tools)))]
                for alert in (det.observe_call(name, exe, tool=tool, uid=1000, now=now),
                              det.observe_result(name, exe, error=bool(rng.random() < 0.05), now=now)):
                    if alert:
                        false_alerts[name] += 1
                        for a in alert.anomalies:
                            by_signal[a.signal] = by_signal.get(a.signal, 0) + 1
                calls += 1
    elapsed = time.perf_counter() - started
    print(f"steady traffic: {agents} agents x {days} simulated days, {calls} calls, "
          f"{elapsed:.1f} s wall ({elapsed / max(calls, 1) * 1e6:.1f} us per call incl. simulation)")
    print(f"{'agent':<8} {'rate/min':>9} {'false alerts':>13} {'per day':>8}")
    for name, _, rate, _ in profiles:
        print(f"{name:<8} {rate:9.1f} {false_alerts[name]:13d} {false_alerts[name] / days:8.2f}")
    total = sum(false_alerts.values())
    print(f"false-alert rate: {total / (agents * days):.3f} per agent-day ({total} in total); "
          f"by signal: {by_signal or 'none'}\n")

    # injected attacks, one minute apart from the steady days
    t = T0 + (minutes + 5) * 60
    burst_delays, storm_delays, tool_delays = [], [], []
    for name, exe, rate, tools in profiles:
        # 10x burst: calls spaced evenly over a minute at 10x the usual rate
        n = int(rate * 10)
        for k in range(n):
            if det.observe_call(name, exe, tool=tools[0], uid=1000, now=t + k * 59.0 / n):
                burst_delays.append((k + 1, k * 59.0 / n))
                break
        else:
            burst_delays.append((None, None))
        t += 120
        for k in range(40):
            if det.observe_result(name, exe, error=True, now=t + k):
                storm_delays.append(k + 1)
                break
        else:
            storm_delays.append(None)
        t += 600
        a = det.observe_call(name, exe, tool="exfiltrate_data", uid=1000, now=t)
        tool_delays.append(1 if a else None)
        t += 600
    print(f"{'attack':<18} {'detected':>9} {'median delay':>22}")
    got = [d for d in burst_delays if d[0] is not None]
    print(f"{'10x call burst':<18} {len(got)}/{agents:<7} "
          f"{statistics.median(d[0] for d in got) if got else float('nan'):>6} calls / "
          f"{statistics.median(d[1] for d in got) if got else float('nan'):.1f} s")
    got_s = [d for d in storm_delays if d is not None]
    print(f"{'error storm':<18} {len(got_s)}/{agents:<7} "
          f"{statistics.median(got_s) if got_s else float('nan'):>6} failed calls")
    got_t = [d for d in tool_delays if d is not None]
    print(f"{'new tool':<18} {len(got_t)}/{agents:<7} {'first call' if got_t else '-':>12}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--agents", type=int, default=6)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    simulate(a.days, a.agents, a.seed)
