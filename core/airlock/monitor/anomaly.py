"""Anomaly detection per agent: the reference's rules, with warm-up and coalescing so steady agents stay quiet.

Signals (each a named rule, testable on its own):

``call_rate``      calls in the current minute above mean + 3 std of the agent's past active minutes
                   (more than 10 of them), and also above mean + 5 sqrt(mean) and mean + 10: per-minute counts
                   are Poisson-like, whose tail is heavier than 3 std suggests at small means, and a steady
                   agent whose std is ~0 must not alert on one extra call.
``token_usage``    tokens of one request above 5x the mean (more than 10 samples).
``error_rate``     more than half of the last 20 completed calls failed (at least 10 seen).
``new_source``     a known agent name (10+ calls) arrives from a new executable or a new user id.
``new_tool``       after warm-up (50 calls over 10 active minutes) the agent uses a tool it never used.
``new_sensitive_path``  after warm-up, a secret-bearing path the agent never touched.
``rate_limit_hits``     five or more rate-limit refusals within a minute.

Severity follows the reference: 3+ anomalies critical, any rate or token anomaly high, else medium.
An alert for the same (agent, signal) is raised at most once per ``coalesce_seconds``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

import numpy as np

__all__ = ["Alert", "Anomaly", "AnomalyDetector", "AgentBaseline", "severity_of"]

log = logging.getLogger(__name__)

HISTORY_MINUTES = 1440
MIN_SAMPLES = 10
WARMUP_CALLS = 50
WARMUP_MINUTES = 10
MAX_SET = 500
MAX_AGENTS = 1000
HIGH_SIGNALS = frozenset({"call_rate", "token_usage", "rate_limit_hits"})


@dataclass(frozen=True, slots=True)
class Anomaly:
    signal: str
    message: str


@dataclass(slots=True)
class Alert:
    agent: str
    exe: str
    anomalies: tuple[Anomaly, ...]
    severity: str
    timestamp: float = field(default_factory=time.time)
    pid: int | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(4))
    acknowledged: bool = False

    @property
    def summary(self) -> str:
        return "; ".join(a.message for a in self.anomalies)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "acknowledged": self.acknowledged, "agent": self.agent, "exe": self.exe, "severity": self.severity, "timestamp": self.timestamp,
                "pid": self.pid, "anomalies": [{"signal": a.signal, "message": a.message} for a in self.anomalies]}


def severity_of(anomalies: Iterable[Anomaly]) -> str:
    items = list(anomalies)
    if len(items) >= 3:
        return "critical"
    if any(a.signal in HIGH_SIGNALS for a in items):
        return "high"
    return "medium"


def _add_bounded(s: set[str], item: str) -> None:
    if len(s) < MAX_SET:
        s.add(item[:512])


@dataclass
class AgentBaseline:
    """What is normal for one agent (name + executable). Small enough to keep across restarts."""

    minutes: deque[int] = field(default_factory=lambda: deque(maxlen=HISTORY_MINUTES))
    tokens: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=20))
    tools: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    calls: int = 0
    minute: int = -1
    count: int = 0
    threshold: float | None = None  # recomputed when a minute closes, not on every call
    stats: tuple[float, float, float] | None = None

    @property
    def warmed_up(self) -> bool:
        return self.calls >= WARMUP_CALLS and len(self.minutes) >= WARMUP_MINUTES

    def roll(self, minute: int) -> None:
        if minute != self.minute:
            if self.count > 0:
                self.minutes.append(self.count)
                self.threshold = None
            self.minute, self.count = minute, 0

    def rate_threshold(self) -> tuple[float, float, float] | None:
        """(threshold, mean, std) for ``call_rate``; None until there are enough samples."""
        if len(self.minutes) <= MIN_SAMPLES:
            return None
        hist = np.fromiter(self.minutes, dtype=np.float64, count=len(self.minutes))
        mean, std = float(hist.mean()), float(hist.std())
        return mean + max(3.0 * std, 5.0 * mean ** 0.5, 10.0), mean, std

    def to_json(self) -> dict[str, Any]:
        return {"minutes": list(self.minutes), "tokens": list(self.tokens), "outcomes": list(self.outcomes),
                "tools": sorted(self.tools), "paths": sorted(self.paths), "hosts": sorted(self.hosts),
                "calls": self.calls, "minute": self.minute, "count": self.count}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "AgentBaseline":
        b = cls()
        b.minutes.extend(int(x) for x in d.get("minutes", [])[-HISTORY_MINUTES:])
        b.tokens.extend(float(x) for x in d.get("tokens", [])[-500:])
        b.outcomes.extend(bool(x) for x in d.get("outcomes", [])[-20:])
        b.tools = set(map(str, d.get("tools", [])[:MAX_SET]))
        b.paths = set(map(str, d.get("paths", [])[:MAX_SET]))
        b.hosts = set(map(str, d.get("hosts", [])[:MAX_SET]))
        b.calls = int(d.get("calls", 0))
        b.minute = int(d.get("minute", -1))
        b.count = int(d.get("count", 0))
        return b


class AnomalyDetector:
    """Feed it calls (``observe_call``), results (``observe_result``) and token counts; it returns alerts."""

    def __init__(self, state_path: str | os.PathLike[str] | None = None, *, coalesce_seconds: float = 300.0,
                 save_every: float = 30.0) -> None:
        self.state_path = Path(state_path) if state_path is not None else None
        self.coalesce_seconds = coalesce_seconds
        self.save_every = save_every
        self.baselines: dict[str, AgentBaseline] = {}
        self.sources: dict[str, dict[str, set[str]]] = {}  # agent name -> {"exes": ..., "uids": ...}
        self.source_calls: dict[str, int] = {}
        self._last_alert: dict[tuple[str, str], float] = {}
        self._refusals: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._saved = 0.0
        self._load()

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        if self.state_path is None or not self.state_path.exists():
            return
        try:
            data = json.loads(self.state_path.read_text("utf-8"))
            for key, raw in list(data.get("agents", {}).items())[:MAX_AGENTS]:
                self.baselines[key] = AgentBaseline.from_json(raw)
            for name, raw in list(data.get("sources", {}).items())[:MAX_AGENTS]:
                self.sources[name] = {"exes": set(raw.get("exes", [])[:MAX_SET]),
                                      "uids": set(map(str, raw.get("uids", [])[:MAX_SET]))}
                self.source_calls[name] = int(raw.get("calls", 0))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("anomaly baselines not loaded (%s); starting fresh", exc)

    def save(self) -> None:
        if self.state_path is None:
            return
        with self._lock:
            data = {"version": 1,
                    "agents": {k: b.to_json() for k, b in self.baselines.items()},
                    "sources": {n: {"exes": sorted(s["exes"]), "uids": sorted(s["uids"]),
                                    "calls": self.source_calls.get(n, 0)} for n, s in self.sources.items()}}
        tmp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}.tmp")
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, separators=(",", ":"))
            os.replace(tmp, self.state_path)
            self._saved = time.monotonic()
        except OSError as exc:
            log.warning("anomaly baselines not saved: %s", exc)

    def _maybe_save(self) -> None:
        if self.state_path is not None and time.monotonic() - self._saved > self.save_every:
            self.save()

    # ------------------------------------------------------------------ observing
    def _baseline(self, key: str) -> AgentBaseline:
        b = self.baselines.get(key)
        if b is None:
            if len(self.baselines) >= MAX_AGENTS:  # forget the quietest agent
                self.baselines.pop(min(self.baselines, key=lambda k: self.baselines[k].calls))
            b = self.baselines[key] = AgentBaseline()
        return b

    def _coalesced(self, agent_key: str, found: list[Anomaly], now: float) -> list[Anomaly]:
        out = []
        for a in found:
            k = (agent_key, a.signal)
            if now - self._last_alert.get(k, -1e18) >= self.coalesce_seconds:
                self._last_alert[k] = now
                out.append(a)
        return out

    def _alert(self, name: str, exe: str, pid: int | None, found: list[Anomaly], now: float) -> Alert | None:
        fresh = self._coalesced(f"{name}\0{exe}", found, now)
        if not fresh:
            return None
        return Alert(name, exe, tuple(fresh), severity_of(fresh), timestamp=now, pid=pid)

    def observe_call(self, name: str, exe: str, *, tool: str, uid: int | None = None, pid: int | None = None,
                     paths: Iterable[tuple[str, bool]] = (), urls: Iterable[str] = (),
                     now: float | None = None) -> Alert | None:
        """One tool call about to be decided. ``paths``: (path, is_sensitive) pairs."""
        now = time.time() if now is None else now
        found: list[Anomaly] = []
        with self._lock:
            b = self._baseline(f"{name}\0{exe}")
            b.roll(int(now // 60))
            b.count += 1
            if b.threshold is None:
                b.stats = b.rate_threshold()
                b.threshold = b.stats[0] if b.stats else float("inf")
            if b.count > b.threshold and b.stats:
                _, mean, std = b.stats
                found.append(Anomaly("call_rate", f"{b.count} calls this minute; usually {mean:.1f} ± {std:.1f}"))
            # new source for a known agent name
            src = self.sources.setdefault(name, {"exes": set(), "uids": set()})
            known = self.source_calls.get(name, 0) >= MIN_SAMPLES
            if exe and exe not in src["exes"]:
                if known:
                    found.append(Anomaly("new_source", f"agent {name!r} now runs from a new executable {exe}"))
                _add_bounded(src["exes"], exe)
            if uid is not None and str(uid) not in src["uids"]:
                if known:
                    found.append(Anomaly("new_source", f"agent {name!r} now runs as a new user (uid {uid})"))
                _add_bounded(src["uids"], str(uid))
            self.source_calls[name] = self.source_calls.get(name, 0) + 1
            # new tool, new sensitive path (only once the agent's habits are known)
            if tool not in b.tools:
                if b.warmed_up:
                    found.append(Anomaly("new_tool", f"first use of tool {tool!r}"))
                _add_bounded(b.tools, tool)
            for path, sensitive in paths:
                if path not in b.paths:
                    if sensitive and b.warmed_up:
                        found.append(Anomaly("new_sensitive_path", f"first access to sensitive path {path}"))
                    _add_bounded(b.paths, path)
            for url in urls:
                host = urlsplit(url).hostname
                if host:
                    _add_bounded(b.hosts, host)
            b.calls += 1
            alert = self._alert(name, exe, pid, found, now) if found else None
        self._maybe_save()
        return alert

    def observe_result(self, name: str, exe: str, *, error: bool, pid: int | None = None,
                       now: float | None = None) -> Alert | None:
        now = time.time() if now is None else now
        with self._lock:
            b = self._baseline(f"{name}\0{exe}")
            b.outcomes.append(bool(error))
            found = []
            if len(b.outcomes) >= MIN_SAMPLES:
                rate = sum(b.outcomes) / len(b.outcomes)
                if rate > 0.5:
                    found.append(Anomaly("error_rate", f"{rate:.0%} of the last {len(b.outcomes)} calls failed"))
            return self._alert(name, exe, pid, found, now) if found else None

    def observe_tokens(self, name: str, exe: str, tokens: float, *, pid: int | None = None,
                       now: float | None = None) -> Alert | None:
        now = time.time() if now is None else now
        with self._lock:
            b = self._baseline(f"{name}\0{exe}")
            found = []
            if len(b.tokens) > MIN_SAMPLES:
                mean = float(np.mean(np.fromiter(b.tokens, dtype=np.float64)))
                if mean > 0 and tokens > 5 * mean:
                    found.append(Anomaly("token_usage", f"{tokens:.0f} tokens in one request; usually {mean:.0f}"))
            b.tokens.append(float(tokens))
            return self._alert(name, exe, pid, found, now) if found else None

    def observe_refusal(self, name: str, exe: str, *, pid: int | None = None,
                        now: float | None = None) -> Alert | None:
        """A rate-limit refusal; five within a minute is an anomaly."""
        now = time.time() if now is None else now
        with self._lock:
            q = self._refusals.setdefault(f"{name}\0{exe}", deque(maxlen=5))
            q.append(now)
            if len(q) == 5 and now - q[0] <= 60:
                return self._alert(name, exe, pid, [Anomaly("rate_limit_hits",
                                                            "hit its rate limit 5 times within a minute")], now)
        return None
