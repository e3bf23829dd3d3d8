"""Process-wide state: the local engine, the remote decider (socket client) and the fast-path flag."""

from __future__ import annotations

import os
import secrets
import sys
import threading
from pathlib import Path

from .engine import Decider, Engine
from .events import AgentIdentity
from .hooks import registry


def _default_agent_name() -> str:
    name = os.environ.get("AIRLOCK_AGENT_NAME")
    if name:
        return name
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    return Path(argv0).name or "python"


def _cmdline() -> str:
    try:
        raw = Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
        return " ".join(p.decode("utf-8", "replace") for p in raw.split(b"\0") if p)
    except OSError:
        return " ".join(sys.argv)


class Predecided:
    """Calls a framework bridge has already decided and will record, so ``guard`` does not ask twice.

    A mark is for one call: exact tool name and arguments, consumed on use, gone after ``ttl`` s.
    """

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._marks: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._marks)

    @staticmethod
    def _key(tool: str, kwargs: object) -> tuple[str, str] | None:
        import json

        try:
            return (tool, json.dumps(kwargs, sort_keys=True, default=repr))
        except (TypeError, ValueError, RecursionError):
            return None

    def mark(self, tool: str, kwargs: object) -> None:
        key = self._key(tool, kwargs)
        if key is None:
            return
        import time

        now = time.monotonic()
        with self._lock:
            if len(self._marks) > 1000:
                self._marks = {k: [t for t in v if t > now] for k, v in self._marks.items() if any(t > now for t in v)}
            self._marks.setdefault(key, []).append(now + self.ttl)

    def consume(self, tool: str, kwargs: object) -> bool:
        key = self._key(tool, kwargs)
        if key is None:
            return False
        import time

        now = time.monotonic()
        with self._lock:
            times = [t for t in self._marks.get(key, ()) if t > now]
            if not times:
                self._marks.pop(key, None)
                return False
            times.pop(0)
            if times:
                self._marks[key] = times
            else:
                self._marks.pop(key, None)
            return True


class Runtime:
    """``idle`` is the one check a guarded call makes when nothing is enabled."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.engine = Engine(hooks=registry)
        self.remote: Decider | None = None
        self.predecided = Predecided()
        self.identity = AgentIdentity(
            name=_default_agent_name(),
            pid=os.getpid(),
            exe=sys.executable,
            cmdline=_cmdline(),
            uid=os.getuid(),
            session_id="local-" + secrets.token_hex(6),
        )
        self.idle = True
        registry.on_change = self.refresh

    def refresh(self) -> None:
        e = self.engine
        self.idle = (
            self.remote is None and e.scanner is None and e.audit is None and e.policy is None
            and e.monitor is None and len(e.hooks) == 0
        )

    def decider(self) -> Decider:
        return self.remote if self.remote is not None else self.engine

    def set_agent_name(self, name: str) -> None:
        self.identity.name = name


runtime = Runtime()
