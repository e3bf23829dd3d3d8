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


class Runtime:
    """``idle`` is the one check a guarded call makes when nothing is enabled."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.engine = Engine(hooks=registry)
        self.remote: Decider | None = None
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
            self.remote is None and e.scanner is None and e.audit is None and e.policy is None and len(e.hooks) == 0
        )

    def decider(self) -> Decider:
        return self.remote if self.remote is not None else self.engine

    def set_agent_name(self, name: str) -> None:
        self.identity.name = name


runtime = Runtime()
