"""The ``Monitor`` the engine consults: rate limits before a call, anomaly signals after it, pauses, alerts.

Alerts go to every sink (the engine writes them to the audit log; the tray shows them and raises a
desktop notification) and into a short in-memory list the tray menu offers for acknowledgement.
With ``pause_on_alert``, an alerting agent's next calls are all asked until the user resumes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from .. import paths as _paths
from .anomaly import Alert, AnomalyDetector
from .ratelimit import DEFAULT_AGENT_LIMIT, DEFAULT_TOOL_LIMIT, RateDecision, RateLimiter

__all__ = ["Monitor"]

log = logging.getLogger(__name__)
AlertSink = Callable[[Alert], None]


def _urls(tool_input: Any) -> list[str]:
    out: list[str] = []
    if isinstance(tool_input, dict):
        for value in list(tool_input.values())[:100]:
            if isinstance(value, str) and value[:8].lower().startswith(("http://", "https://")):
                out.append(value[:2048])
    return out


class Monitor:
    def __init__(self, *, detector: AnomalyDetector | None = None, state_path: Any = None,
                 pause_on_alert: bool = False, keep_alerts: int = 200) -> None:
        self.detector = detector if detector is not None else AnomalyDetector(state_path)
        self.limiter = RateLimiter()
        self._limits_seen: Mapping[str, Any] | None = None
        self.pause_on_alert = pause_on_alert
        self.paused_agents: dict[str, str] = {}
        self.alerts: deque[Alert] = deque(maxlen=keep_alerts)
        self.sinks: list[AlertSink] = []
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- before a call
    def configure(self, limits: Mapping[str, Any]) -> None:
        """Apply the policy's ``[limits]`` (rebuilds the buckets only when they changed)."""
        if limits == self._limits_seen:
            return
        self._limits_seen = dict(limits)
        self.limiter = RateLimiter(per_agent=limits.get("per_agent", DEFAULT_AGENT_LIMIT),
                                   per_tool=limits.get("per_tool", DEFAULT_TOOL_LIMIT),
                                   tools=limits.get("tools", {}))

    def check_rate(self, agent: str, tool: str) -> RateDecision:
        return self.limiter.check(agent, tool)

    def pause_reason(self, agent: str) -> str | None:
        return self.paused_agents.get(agent)

    def pause(self, agent: str, reason: str) -> None:
        self.paused_agents[agent] = reason

    def resume(self, agent: str) -> bool:
        return self.paused_agents.pop(agent, None) is not None

    # ---------------------------------------------------------------- after a call
    def observe_call(self, event: Any, *, refused_by_rate: bool = False) -> list[Alert]:
        a = event.agent
        found: list[Alert | None] = []
        if refused_by_rate:
            found.append(self.detector.observe_refusal(a.name, a.exe, pid=a.pid))
        cwd = a.cwd or None
        paths = []
        for _, p in _paths.path_arguments(event.tool_input):
            if isinstance(p, str):
                paths.append((p, _paths.is_secret_bearing(p, cwd=cwd)))
        found.append(self.detector.observe_call(a.name, a.exe, tool=event.tool_name, uid=a.uid, pid=a.pid,
                                                paths=paths, urls=_urls(event.tool_input)))
        return self._raise([x for x in found if x is not None])

    def observe_result(self, event: Any) -> list[Alert]:
        a = event.agent
        alert = self.detector.observe_result(a.name, a.exe, error=event.error is not None, pid=a.pid)
        return self._raise([alert] if alert else [])

    def observe_tokens(self, event: Any, tokens: float) -> list[Alert]:
        a = event.agent
        alert = self.detector.observe_tokens(a.name, a.exe, tokens, pid=a.pid)
        return self._raise([alert] if alert else [])

    def _raise(self, alerts: list[Alert]) -> list[Alert]:
        for alert in alerts:
            with self._lock:
                self.alerts.append(alert)
            if self.pause_on_alert:
                self.pause(alert.agent, f"paused after an alert: {alert.summary}")
            for sink in list(self.sinks):
                try:
                    sink(alert)
                except Exception:  # a broken notifier must not break decisions
                    log.exception("alert sink failed")
        return alerts

    # ---------------------------------------------------------------- the tray's list
    def pending_alerts(self) -> list[Alert]:
        with self._lock:
            return [a for a in self.alerts if not a.acknowledged]

    def acknowledge(self, alert_id: str | None = None) -> int:
        """Mark one alert (or all, with ``None``) as seen; returns how many changed."""
        n = 0
        with self._lock:
            for a in self.alerts:
                if not a.acknowledged and (alert_id is None or a.id == alert_id):
                    a.acknowledged = True
                    n += 1
        return n

    def save(self) -> None:
        self.detector.save()

    @staticmethod
    def now() -> float:
        return time.time()
