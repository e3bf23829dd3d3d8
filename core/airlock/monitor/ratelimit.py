"""Rate limits: token buckets per agent and per (agent, tool), and the reference's decorator.

Buckets refill continuously, so a limit of ``60/min`` allows a burst of 60 and then one
call a second; a refusal says exactly when the next call will be allowed. Memory is bounded:
the least recently used buckets are dropped past ``max_keys`` (a dropped bucket is full again,
which only ever errs towards allowing a call that a human could still refuse elsewhere).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Limit", "TokenBucket", "RateLimiter", "RateDecision", "RateLimited", "rate_limit", "parse_limit"]

F = TypeVar("F", bound=Callable[..., Any])
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)s?\s*$")
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True, slots=True)
class Limit:
    """``count`` calls per ``seconds``; the bucket holds ``count`` (the burst)."""

    count: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def __str__(self) -> str:
        per = {1: "s", 60: "min", 3600: "h"}.get(int(self.seconds), f"{self.seconds:g}s")
        return f"{self.count:g}/{per}"


def parse_limit(text: str | Limit) -> Limit:
    """``"60/min"``, ``"5/10s"``, ``"1000/hour"`` -> Limit."""
    if isinstance(text, Limit):
        return text
    m = _LIMIT.match(str(text).lower())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"not a rate limit: {text!r} (examples: 60/min, 5/10s, 1000/hour)")
    seconds = (float(m.group(2)) if m.group(2) else 1.0) * _UNITS[m.group(3)]
    return Limit(float(m.group(1)), seconds)


class TokenBucket:
    __slots__ = ("limit", "tokens", "stamp")

    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self.tokens = limit.count
        self.stamp = now

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one is available."""
        self.tokens = min(self.limit.count, self.tokens + (now - self.stamp) * self.limit.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.limit.rate


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0
    limit: str = ""
    scope: str = ""

    @property
    def reason(self) -> str:
        if self.allowed:
            return ""
        return (f"rate limit {self.limit} for {self.scope} reached; retry in {max(self.retry_after, 0.01):.2f} s")


DEFAULT_AGENT_LIMIT = Limit(600, 60)   # generous: ten calls a second, sustained
DEFAULT_TOOL_LIMIT = Limit(300, 60)


class RateLimiter:
    """Checks one call against its agent's bucket and its (agent, tool) bucket."""

    def __init__(self, *, per_agent: Limit | str = DEFAULT_AGENT_LIMIT, per_tool: Limit | str = DEFAULT_TOOL_LIMIT,
                 tools: Mapping[str, Limit | str] | None = None, max_keys: int = 10_000) -> None:
        self.per_agent = parse_limit(per_agent)
        self.per_tool = parse_limit(per_tool)
        self.tools = {k: parse_limit(v) for k, v in (tools or {}).items()}
        self.max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, ...], TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, key: tuple[str, ...], limit: Limit, now: float) -> TokenBucket:
        b = self._buckets.get(key)
        if b is None or b.limit != limit:
            b = self._buckets[key] = TokenBucket(limit, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return b

    def check(self, agent: str, tool: str, now: float | None = None) -> RateDecision:
        now = time.monotonic() if now is None else now
        tool_limit = self.tools.get(tool, self.per_tool)
        with self._lock:
            agent_bucket = self._bucket(("agent", agent), self.per_agent, now)
            tool_bucket = self._bucket(("tool", agent, tool), tool_limit, now)
            # peek at both before taking from either, so a refusal costs no token
            wait_agent = _peek(agent_bucket, now)
            wait_tool = _peek(tool_bucket, now)
            if wait_agent > 0:
                return RateDecision(False, wait_agent, str(self.per_agent), f"agent {agent!r}")
            if wait_tool > 0:
                return RateDecision(False, wait_tool, str(tool_limit), f"{tool} by {agent!r}")
            agent_bucket.take(now)
            tool_bucket.take(now)
        return RateDecision(True)


def _peek(bucket: TokenBucket, now: float) -> float:
    tokens = min(bucket.limit.count, bucket.tokens + (now - bucket.stamp) * bucket.limit.rate)
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / bucket.limit.rate


class RateLimited(Exception):
    """Raised by ``rate_limit``-decorated functions; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def rate_limit(max_attempts: int = 5, window_seconds: float = 60, *,
               key: Callable[..., Any] | None = None) -> Callable[[F], F]:
    """The reference's decorator: at most ``max_attempts`` calls per sliding ``window_seconds``.

    ``key(*args, **kwargs)`` picks the bucket (the reference keyed on the first argument, a user id);
    without it all calls share one window. Memory per key is ``max_attempts`` timestamps.
    """
    if max_attempts < 1 or window_seconds <= 0:
        raise ValueError("rate_limit needs max_attempts >= 1 and window_seconds > 0")

    def decorate(func: F) -> F:
        windows: OrderedDict[Any, deque[float]] = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            k = key(*args, **kwargs) if key is not None else None
            now = time.monotonic()
            with lock:
                window = windows.get(k)
                if window is None:
                    window = windows[k] = deque(maxlen=max_attempts)
                    while len(windows) > 10_000:
                        windows.popitem(last=False)
                while window and now - window[0] >= window_seconds:
                    window.popleft()
                if len(window) >= max_attempts:
                    retry = window_seconds - (now - window[0])
                    raise RateLimited(f"rate limit exceeded: {max_attempts} calls per {window_seconds:g} s; "
                                      f"retry in {retry:.1f} s", retry)
                window.append(now)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
