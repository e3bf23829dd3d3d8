"""A small, typed hook registry (in the spirit of pluggy).

Call semantics, in one place:

* hooks of one event run in ascending ``priority`` (ties: registration order);
* each returns a ``HookResult`` (or None, meaning allow);
* results combine as BLOCK beats ASK beats ALLOW; the first BLOCK stops the chain;
* ``modify`` replaces the tool input for the hooks after it and for the tool;
* a hook that raises counts as BLOCK (fail secure) and its exception is recorded.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Pattern, Union

from .events import Action, AfterToolEvent, AnyEvent, BeforeAgentEvent, BeforeToolEvent, EventKind

__all__ = ["HookResult", "HookOutcome", "HookRegistry", "add_hook", "remove_hook", "registry"]

EventLike = Union[BeforeAgentEvent, BeforeToolEvent, AfterToolEvent]
HookFn = Callable[[Any], "HookResult | None"]


@dataclass(frozen=True, slots=True)
class HookResult:
    """What a hook wants. Build it with the class methods, not the constructor."""

    action: Action = Action.ALLOW
    reason: str = ""
    new_input: dict[str, Any] | None = None

    @classmethod
    def allow(cls) -> "HookResult":
        return _ALLOW

    @classmethod
    def block(cls, reason: str) -> "HookResult":
        return cls(Action.BLOCK, reason or "blocked by a hook")

    @classmethod
    def ask(cls, reason: str) -> "HookResult":
        """Needs a human: routed to the active approver."""
        return cls(Action.ASK, reason or "a hook asks for approval")

    @classmethod
    def modify(cls, new_input: dict[str, Any], reason: str = "") -> "HookResult":
        if not isinstance(new_input, dict):
            raise TypeError("HookResult.modify needs a dict (the new tool input)")
        return cls(Action.ALLOW, reason, dict(new_input))


_ALLOW = HookResult()


@dataclass(frozen=True, slots=True)
class _Hook:
    id: int
    event: EventKind
    fn: HookFn
    priority: int
    matcher: Callable[[str], bool] | None
    name: str


@dataclass(slots=True)
class HookOutcome:
    """The combined result of all hooks of one event."""

    action: Action = Action.ALLOW
    reason: str = ""
    decided_by: str = ""
    new_input: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def _compile_matcher(matcher: str | Pattern[str] | Callable[[str], bool] | None) -> Callable[[str], bool] | None:
    """Glob by default; a compiled regex or ``re:``-prefixed string is a regex (fullmatch)."""
    if matcher is None:
        return None
    if callable(matcher) and not isinstance(matcher, re.Pattern):
        return matcher
    if isinstance(matcher, re.Pattern):
        return lambda name: matcher.fullmatch(name) is not None
    if isinstance(matcher, str):
        if matcher.startswith("re:"):
            rx = re.compile(matcher[3:])
            return lambda name: rx.fullmatch(name) is not None
        rx = re.compile(fnmatch.translate(matcher))
        return lambda name: rx.match(name) is not None
    raise TypeError(f"matcher must be a glob, a regex or a callable, not {type(matcher).__name__}")


class HookRegistry:
    """Hooks per event. Thread-safe; ``run`` reads a snapshot, so hooks may be added while calls run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._hooks: dict[EventKind, tuple[_Hook, ...]] = {}
        #: called after every change (the runtime keeps its one-check fast path in sync)
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def add(
        self,
        event: str | EventKind,
        fn: HookFn | None = None,
        *,
        priority: int = 100,
        matcher: str | Pattern[str] | Callable[[str], bool] | None = None,
    ) -> Any:
        """Register ``fn`` for ``event``; returns the hook id. Without ``fn``, works as a decorator."""
        kind = EventKind(event)
        if kind not in (EventKind.BEFORE_AGENT, EventKind.BEFORE_TOOL, EventKind.AFTER_TOOL):
            raise ValueError(f"hooks exist for before_agent, before_tool and after_tool, not {kind.value}")
        if fn is None:
            def decorator(f: HookFn) -> HookFn:
                hook_id = self.add(kind, f, priority=priority, matcher=matcher)
                try:
                    f.airlock_hook_id = hook_id  # type: ignore[attr-defined]
                except AttributeError:
                    pass
                return f
            return decorator
        if not callable(fn):
            raise TypeError("hook must be callable")
        compiled = _compile_matcher(matcher)
        with self._lock:
            hook = _Hook(next(self._ids), kind, fn, int(priority), compiled,
                         getattr(fn, "__qualname__", None) or repr(fn))
            hooks = sorted(self._hooks.get(kind, ()) + (hook,), key=lambda h: (h.priority, h.id))
            self._hooks[kind] = tuple(hooks)
        self._changed()
        return hook.id

    def remove(self, hook_id: int | Callable[..., Any]) -> bool:
        """Remove by id (or by the decorated function). Returns whether something was removed."""
        if callable(hook_id):
            hook_id = getattr(hook_id, "airlock_hook_id", -1)
        with self._lock:
            for kind, hooks in self._hooks.items():
                kept = tuple(h for h in hooks if h.id != hook_id)
                if len(kept) != len(hooks):
                    self._hooks[kind] = kept
                    break
            else:
                return False
        self._changed()
        return True

    def clear(self) -> None:
        with self._lock:
            self._hooks.clear()
        self._changed()

    def has(self, kind: EventKind) -> bool:
        return bool(self._hooks.get(kind))

    def __len__(self) -> int:
        return sum(len(h) for h in self._hooks.values())

    def run(self, event: EventLike) -> HookOutcome:
        """Run the hooks of ``event.kind`` with the semantics in the module docstring."""
        hooks = self._hooks.get(event.kind, ())
        out = HookOutcome()
        if not hooks:
            return out
        tool_name = getattr(event, "tool_name", None)
        for hook in hooks:
            if hook.matcher is not None and (tool_name is None or not hook.matcher(tool_name)):
                continue
            try:
                result = hook.fn(event)
            except Exception as exc:  # fail secure: a broken hook blocks
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                out.errors.append(f"hook {hook.name} raised: {detail}")
                out.action, out.decided_by = Action.BLOCK, f"hook:{hook.name}"
                out.reason = f"security hook {hook.name} failed ({detail}); blocked to be safe"
                return out
            if result is None:
                continue
            if not isinstance(result, HookResult):
                out.errors.append(f"hook {hook.name} returned {type(result).__name__}, not HookResult")
                out.action, out.decided_by = Action.BLOCK, f"hook:{hook.name}"
                out.reason = f"security hook {hook.name} returned an invalid result; blocked to be safe"
                return out
            if result.new_input is not None and isinstance(event, BeforeToolEvent):
                event.tool_input = result.new_input
                out.new_input = result.new_input
            if result.action.rank > out.action.rank:
                out.action, out.reason, out.decided_by = result.action, result.reason, f"hook:{hook.name}"
                if result.action is Action.BLOCK:
                    return out
        return out


#: The process-wide registry used by ``airlock.add_hook`` and by ``guard``.
registry = HookRegistry()


def add_hook(
    event: str | EventKind,
    fn: HookFn | None = None,
    *,
    priority: int = 100,
    matcher: str | Pattern[str] | Callable[[str], bool] | None = None,
) -> Any:
    """Register a hook globally. ``add_hook("before_tool", fn)`` or ``@add_hook("before_tool")``."""
    return registry.add(event, fn, priority=priority, matcher=matcher)


def remove_hook(hook_id: int | Callable[..., Any]) -> bool:
    """Remove a global hook by the id ``add_hook`` returned (or the decorated function)."""
    return registry.remove(hook_id)
