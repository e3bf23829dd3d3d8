"""``guard``: any plain Python function becomes a tool that Airlock decides on.

The wrapper's fast path is one attribute check: with nothing enabled and a tool that
needs no approval, the call goes straight through. Tools that need approval (CRITICAL or
HIGH risk) are never on the fast path: with no one to ask, they are denied.
"""

from __future__ import annotations

import dataclasses
import os
import functools
import inspect
import time
from typing import Any, Callable, TypeVar, overload

from ._runtime import runtime
from .engine import ToolBlocked
from .events import AfterToolEvent, BeforeToolEvent, RiskLevel
from .policy import RISK_MATRIX

__all__ = ["guard", "require_approval", "ToolBlocked"]

F = TypeVar("F", bound=Callable[..., Any])


def _tool_input(sig: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The call's arguments by name (``*args`` as a list, ``**kwargs`` merged), plus the binding to rebuild it."""
    if sig is None:
        return ({"args": list(args), **kwargs} if args else dict(kwargs)), None
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return ({"args": list(args), **kwargs} if args else dict(kwargs)), None
    bound.apply_defaults()
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            out[name] = list(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        else:
            out[name] = value
    return out, bound


def _call_with(func: Callable[..., Any], sig: inspect.Signature | None, bound: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any], new_input: dict[str, Any] | None) -> tuple[tuple, dict]:
    """Arguments for the real call: the original ones, or the ones a hook's ``modify`` asked for."""
    if new_input is None or bound is None or sig is None:
        return args, kwargs
    for name, param in sig.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            bound.arguments[name] = {k: v for k, v in new_input.items() if k not in sig.parameters}
        elif name in new_input:
            value = new_input[name]
            bound.arguments[name] = tuple(value) if param.kind is inspect.Parameter.VAR_POSITIONAL else value
    return bound.args, bound.kwargs


def _needs_approval(tool_name: str, declared: RiskLevel | None) -> bool:
    risk = declared if declared is not None else RISK_MATRIX.get(tool_name, RiskLevel.MEDIUM)
    return max(risk, RISK_MATRIX.get(tool_name, RiskLevel.NONE)).needs_approval


def _before(tool_name: str, declared: RiskLevel | None, tool_input: dict[str, Any]) -> BeforeToolEvent:
    try:
        cwd = os.getcwd()
    except OSError:  # a deleted cwd: relative paths then resolve nowhere safe, so say so
        cwd = "/nonexistent-cwd"
    identity = dataclasses.replace(runtime.identity, cwd=cwd)
    event = BeforeToolEvent(agent=identity, tool_name=tool_name, tool_input=tool_input, risk=declared)
    decision = runtime.decider().before_tool(event)
    if not decision.allowed:
        raise ToolBlocked(decision.reason, decision)
    if decision.tool_input is not None and decision.tool_input is not tool_input:
        event.tool_input = decision.tool_input
    return event


def _after(event: BeforeToolEvent, output: Any, error: str | None, started: float) -> Any:
    """Record the result; returns the output the caller gets (an after_tool hook may have filtered it)."""
    after = AfterToolEvent(agent=event.agent, call_id=event.call_id, tool_name=event.tool_name,
                           tool_input=event.tool_input, output=output, error=error,
                           duration_ms=(time.perf_counter() - started) * 1000.0)
    decision = runtime.decider().after_tool(after)
    if not decision.allowed and error is None:
        raise ToolBlocked(decision.reason, decision)
    return decision.output if decision.output_changed else output


@overload
def guard(func: F) -> F: ...
@overload
def guard(func: None = None, *, name: str | None = None, risk: RiskLevel | str | None = None) -> Callable[[F], F]: ...


def guard(func: Callable[..., Any] | None = None, *, name: str | None = None,
          risk: RiskLevel | str | None = None) -> Any:
    """Make ``func`` a guarded tool: before_tool hooks and checks, the call, after_tool checks.

    A refused call raises ``ToolBlocked`` with the reason (agents hand it to the model).
    ``risk`` declares the tool's risk; it can raise, never lower, what the policy says.
    """
    declared = RiskLevel.parse(risk)

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        tool_name = name or getattr(f, "__name__", "tool")
        always = _needs_approval(tool_name, declared)
        try:
            sig: inspect.Signature | None = inspect.signature(f)
        except (TypeError, ValueError):
            sig = None

        def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, tuple[Any, ...], dict[str, Any]] | None:
            """The checks before the call: (event, args, kwargs) to call with; None when a framework
            bridge already decided and records this call (raises ToolBlocked when refused)."""
            if runtime.predecided and not args and runtime.predecided.consume(tool_name, kwargs):
                return None
            tool_input, bound = _tool_input(sig, args, kwargs)
            event = _before(tool_name, declared, tool_input)
            call_args, call_kwargs = _call_with(f, sig, bound, args, kwargs,
                                                event.tool_input if event.tool_input is not tool_input else None)
            return event, call_args, call_kwargs

        if inspect.iscoroutinefunction(f):
            @functools.wraps(f)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if runtime.idle and not always:
                    return await f(*args, **kwargs)
                prepared = prepare(args, kwargs)
                if prepared is None:
                    return await f(**kwargs)
                event, call_args, call_kwargs = prepared
                started = time.perf_counter()
                try:
                    result = await f(*call_args, **call_kwargs)
                except Exception as exc:
                    _after(event, None, f"{type(exc).__name__}: {exc}", started)
                    raise
                return _after(event, result, None, started)

            wrapper: Callable[..., Any] = async_wrapper
        else:
            @functools.wraps(f)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                if runtime.idle and not always:
                    return f(*args, **kwargs)
                prepared = prepare(args, kwargs)
                if prepared is None:
                    return f(**kwargs)
                event, call_args, call_kwargs = prepared
                started = time.perf_counter()
                try:
                    result = f(*call_args, **call_kwargs)
                except Exception as exc:
                    _after(event, None, f"{type(exc).__name__}: {exc}", started)
                    raise
                return _after(event, result, None, started)

            wrapper = sync_wrapper
        wrapper.airlock_tool_name = tool_name  # type: ignore[attr-defined]
        wrapper.airlock_risk = declared  # type: ignore[attr-defined]
        return wrapper

    return decorate(func) if func is not None else decorate


def require_approval(func: Callable[..., Any] | None = None, *, risk: RiskLevel | str = RiskLevel.HIGH,
                     name: str | None = None) -> Any:
    """The reference's decorator name: ``guard`` with a risk level (HIGH unless told otherwise)."""
    return guard(func, name=name, risk=risk)
