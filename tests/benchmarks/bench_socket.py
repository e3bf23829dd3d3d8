"""Benchmark: `before_tool` over the socket vs a raw Unix-socket echo, measured in one run.

    PYTHONPATH=core .venv/bin/python tests/benchmarks/bench_socket.py [--n 5000] [--agents 50]

Prints one table (microseconds). Rows:
  raw echo            1 kB line to a process that echoes it back (the floor for any socket IPC)
  scan only           the injection scanner on the same 1 kB input, in-process
  engine in-process   Engine.before_tool with no socket (scan + policy rule + audit)
  socket ping         the protocol's own round trip (framing, JSON, threads) with no decision
  socket before_tool  RemoteDecider.before_tool, persistent connection, policy allow rule
  ... no audit        the same with the audit log off (to show what the log costs)
  50 agent processes  50 processes, each its own connection, all calling at once
Then where a socket before_tool's time goes: the client's call, the server's dispatch and the two hops
between them, from timestamps taken in both processes (one monotonic clock).
The server runs in its own process (as in real use), so client and server never share a GIL.
No timing asserts (see tests/benchmarks rules); the target is p50 <= 1.5 x (echo + scan)
and p99 < 1 ms idle, and the table prints both numbers next to each other.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from airlock._client import Client, RemoteDecider
from airlock.approval import DenyAllApprover
from airlock.audit import AuditLog
from airlock.engine import Engine
from airlock.events import BeforeToolEvent
from airlock.hooks import HookRegistry
from airlock.injection import Scanner
from airlock.policy import PolicyStore
from airlock.server import Server

#: marks the calls whose two socket hops are timed (perf_counter is CLOCK_MONOTONIC: one clock for all processes)
HOP_MARK = b'"bench_hop"'
PAYLOAD = {"path": "/home/user/project/README.md",
           "note": ("Summarise the installation section and list the supported platforms. " * 16)[:960]}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def row(name: str, xs: list[float]) -> tuple[str, float, float, float, int]:
    us = [x * 1e6 for x in xs]
    return name, statistics.median(us), pct(us, 99), max(us), len(us)


def echo_server(path: str) -> None:
    """The echo peer, in its own process like the Airlock server."""
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    print("READY", flush=True)
    c, _ = ls.accept()
    for line in c.makefile("rb"):
        c.sendall(line)


class EchoPeer:
    """A raw Unix-socket echo in another process: the floor for any socket IPC."""

    def __init__(self, tmp: Path) -> None:
        path = tmp / "echo.sock"
        self.proc = subprocess.Popen([sys.executable, __file__, "--echo", str(path)], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "READY"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.line = b'{"x":"' + b"a" * 1000 + b'"}\n'

    def call(self) -> None:
        self.sock.sendall(self.line)
        got = b""
        while not got.endswith(b"\n"):
            got += self.sock.recv(65536)

    def close(self) -> None:
        self.sock.close()
        self.proc.wait(10)


def make_engine(tmp: Path, audit: bool) -> Engine:
    policy = tmp / "policy.toml"
    policy.write_text('[[rule]]\nid = "bench"\ntool = "read_file"\naction = "allow"\n')
    return Engine(hooks=HookRegistry(), scanner=Scanner(), policy=PolicyStore(policy),
                  audit=AuditLog(tmp / f"audit-{audit}.jsonl") if audit else None, approver=DenyAllApprover())


def timed_calls(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def serve(d: Path, audit: bool) -> None:
    """The server in its own process, as in real use (agents never share its interpreter)."""
    server = Server(make_engine(d, audit), d / "airlock.sock").start()
    hops: list[tuple[float, float]] = []   # (frame taken up, answer sent) of the marked calls
    dispatch = server._dispatch

    def timed_dispatch(conn: object, frame: bytes) -> None:
        t0 = time.perf_counter()
        dispatch(conn, frame)  # type: ignore[arg-type]
        if HOP_MARK in frame:
            hops.append((t0, time.perf_counter()))

    server._dispatch = timed_dispatch  # type: ignore[method-assign]
    print("READY", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server._stopped.set())
    server.serve_forever()
    server.stop()
    (d / "hops.json").write_text(json.dumps(hops))


def agent(sock: str, count: int) -> None:
    """One agent process: connect, warm up, wait for "go", time ``count`` calls, print them as JSON."""
    dec = RemoteDecider(Client(sock, agent_name="bench-agent", timeout=60))
    for _ in range(5):
        assert dec.before_tool(BeforeToolEvent(tool_name="read_file", tool_input=dict(PAYLOAD))).allowed
    print("READY", flush=True)
    sys.stdin.readline()
    xs = timed_calls(lambda: dec.before_tool(BeforeToolEvent(tool_name="read_file", tool_input=dict(PAYLOAD))), count)
    print(json.dumps(xs), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--audit", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-audit", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--agent", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--echo", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.echo:
        return echo_server(args.echo)
    if args.serve:
        return serve(Path(args.serve), args.audit)
    if args.agent:
        return agent(args.agent[0], int(args.agent[1]))
    n = args.n
    tmp = Path(tempfile.mkdtemp(prefix="airlock-bench-"))
    event = lambda: BeforeToolEvent(tool_name="read_file", tool_input=dict(PAYLOAD))  # noqa: E731
    scanner = Scanner()
    (tmp / "inproc").mkdir()
    eng = make_engine(tmp / "inproc", audit=True)
    echo = EchoPeer(tmp)
    servers, deciders = [], {}
    for audit in (True, False):
        d = tmp / f"srv-{audit}"
        d.mkdir()
        srv = subprocess.Popen([sys.executable, __file__, "--serve", str(d), "--audit" if audit else "--no-audit"],
                               stdout=subprocess.PIPE, text=True)
        servers.append(srv)
        assert srv.stdout is not None and srv.stdout.readline().strip() == "READY"
        deciders[audit] = RemoteDecider(Client(d / "airlock.sock", agent_name="bench"))
    cases = {
        "raw echo (1 kB)": echo.call,
        "scan only (1 kB)": lambda: scanner.scan_value(PAYLOAD, source="tool_input"),
        "engine in-process": lambda: eng.before_tool(event()),
        "socket ping (protocol only)": lambda: deciders[True].client.call("ping"),
        "socket before_tool": lambda: deciders[True].before_tool(event()),
        "socket before_tool (no audit)": lambda: deciders[False].before_tool(event()),
    }
    samples: dict[str, list[float]] = {k: [] for k in cases}
    try:
        for fn in cases.values():  # warm up
            timed_calls(fn, 200)
        batch = 50  # interleaved rounds: every case sees the same machine load
        for _ in range(max(1, n // batch)):
            for name, fn in cases.items():
                samples[name].extend(timed_calls(fn, batch))
        rows = [row(name, xs) for name, xs in samples.items()]
        hop_calls = []  # (call start, call return) on this side, for the hop breakdown
        for i in range(min(n, 1000)):
            ev = BeforeToolEvent(tool_name="read_file", tool_input={**PAYLOAD, "bench_hop": i})
            t0 = time.perf_counter()
            deciders[True].before_tool(ev)
            hop_calls.append((t0, time.perf_counter()))

        sock = tmp / "srv-True" / "airlock.sock"
        per_agent = max(40, n // args.agents)
        agents = [subprocess.Popen([sys.executable, __file__, "--agent", str(sock), str(per_agent)],
                                   stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
                  for _ in range(args.agents)]
        for a in agents:  # all connected and warm
            assert a.stdout is not None and a.stdout.readline().strip() == "READY"
        t0 = time.perf_counter()
        for a in agents:
            assert a.stdin is not None
            a.stdin.write("go\n")
            a.stdin.flush()
        lat: list[float] = []
        for a in agents:
            out, _ = a.communicate(timeout=600)
            lat.extend(json.loads(out))
        wall = time.perf_counter() - t0
        rows.append(row(f"{args.agents} agent processes", lat))
        throughput = len(lat) / wall
    finally:
        echo.close()
        for srv in servers:
            srv.terminate()
            srv.wait(10)
    hops = json.loads((tmp / "srv-True" / "hops.json").read_text())[-len(hop_calls):]

    print(f"\nAirlock socket benchmark (python {sys.version.split()[0]}, n={n}, times in microseconds)\n")
    print(f"{'case':30} {'p50':>9} {'p99':>9} {'max':>10} {'calls':>7}")
    for name, p50, p99, mx, cnt in rows:
        print(f"{name:30} {p50:9.1f} {p99:9.1f} {mx:10.1f} {cnt:7d}")
    echo, scan = rows[0][1], rows[1][1]
    sock = next(r for r in rows if r[0] == "socket before_tool")
    print(f"\nbudget p50 = 1.5 x (echo {echo:.1f} + scan {scan:.1f}) = {1.5 * (echo + scan):.1f} us;"
          f" socket before_tool p50 = {sock[1]:.1f} us ({sock[1] / (echo + scan):.2f} x (echo + scan))")
    print(f"p99 target < 1000 us idle: socket before_tool p99 = {sock[2]:.1f} us")
    inproc = rows[2][1]
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"socket overhead over the in-process engine: p50 {sock[1] - inproc:.1f} us")
    print(f"{args.agents} agent processes: {throughput:,.0f} decisions/s total (server is one process)")
    if len(hops) == len(hop_calls):
        med = lambda xs: statistics.median(xs) * 1e6  # noqa: E731
        print(f"where a socket before_tool's time goes ({len(hops)} marked calls, p50 us): "
              f"client -> server dispatch {med([h[0] - c[0] for h, c in zip(hops, hop_calls)]):.1f}, "
              f"server dispatch {med([h[1] - h[0] for h in hops]):.1f}, "
              f"server answer -> client return {med([c[1] - h[1] for h, c in zip(hops, hop_calls)]):.1f}")


if __name__ == "__main__":
    main()
