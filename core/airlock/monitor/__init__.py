"""Monitoring: rate limits (``ratelimit``), per-agent anomaly detection (``anomaly``) and the
``Monitor`` the engine consults (``service``). ``anomaly`` needs numpy, so it loads on first use."""

from __future__ import annotations

from typing import Any

from .ratelimit import Limit, RateDecision, RateLimited, RateLimiter, parse_limit, rate_limit

__all__ = ["Limit", "RateDecision", "RateLimited", "RateLimiter", "parse_limit", "rate_limit",
           "Monitor", "Alert", "AnomalyDetector"]


def __getattr__(name: str) -> Any:
    if name == "Monitor":
        from .service import Monitor

        return Monitor
    if name in ("Alert", "AnomalyDetector"):
        from . import anomaly

        return getattr(anomaly, name)
    raise AttributeError(name)
