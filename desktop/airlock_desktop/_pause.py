"""Pause protection = ask about everything for a while (never allow silently).

Implemented as a core hook that returns ASK: hooks can only tighten a verdict, so a pause can
never let anything through that the policy would stop; it only routes every tool call to the
human. Hard blocks (protected paths, critical injections) stay blocks.
"""

from __future__ import annotations

import time
from typing import Any

from airlock.events import EventKind
from airlock.hooks import HookRegistry, HookResult

__all__ = ["Pause"]


class Pause:
    def __init__(self, hooks: HookRegistry) -> None:
        self._hooks = hooks
        self.until: float = 0.0
        self._hook_id: Any = None

    @property
    def active(self) -> bool:
        return time.time() < self.until

    def start(self, seconds: float) -> None:
        self.until = time.time() + max(0.0, float(seconds))
        if self._hook_id is None:
            self._hook_id = self._hooks.add(EventKind.BEFORE_TOOL, self._ask, priority=-1000)

    def stop(self) -> None:
        self.until = 0.0
        if self._hook_id is not None:
            self._hooks.remove(self._hook_id)
            self._hook_id = None

    def _ask(self, event: Any) -> HookResult | None:
        if time.time() < self.until:
            return HookResult.ask("protection is paused in the Airlock app: every call is asked")
        return None
