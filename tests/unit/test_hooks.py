"""Hook registry semantics: priority order, block > ask > allow, fail-secure on exceptions, modify, matchers."""

from __future__ import annotations

import re

import pytest

from airlock.events import Action, BeforeAgentEvent, BeforeToolEvent
from airlock.hooks import HookRegistry, HookResult


def tool(name: str = "write_file", **tool_input: object) -> BeforeToolEvent:
    return BeforeToolEvent(tool_name=name, tool_input=dict(tool_input))


def test_hooks_run_in_priority_order_then_registration_order() -> None:
    reg, seen = HookRegistry(), []
    reg.add("before_tool", lambda e: seen.append("late"), priority=200)
    reg.add("before_tool", lambda e: seen.append("first"), priority=10)
    reg.add("before_tool", lambda e: seen.append("second"), priority=10)
    assert reg.run(tool()).action is Action.ALLOW
    assert seen == ["first", "second", "late"]


def test_block_beats_ask_beats_allow_and_block_stops_the_chain() -> None:
    reg, seen = HookRegistry(), []
    reg.add("before_tool", lambda e: HookResult.ask("check with a human"), priority=1)
    reg.add("before_tool", lambda e: HookResult.allow(), priority=2)
    out = reg.run(tool())
    assert (out.action, out.reason) == (Action.ASK, "check with a human")
    reg.add("before_tool", lambda e: HookResult.block("no writes today"), priority=3)
    reg.add("before_tool", lambda e: seen.append("after block"), priority=4)
    out = reg.run(tool())
    assert (out.action, out.reason) == (Action.BLOCK, "no writes today")
    assert out.decided_by.startswith("hook:")
    assert seen == []


def test_a_raising_hook_blocks_and_the_exception_is_recorded() -> None:
    reg = HookRegistry()

    def broken(event: BeforeToolEvent) -> HookResult:
        raise RuntimeError("database unreachable")

    reg.add("before_tool", broken)
    out = reg.run(tool())
    assert out.action is Action.BLOCK
    assert "database unreachable" in out.reason
    assert any("RuntimeError: database unreachable" in e for e in out.errors)


def test_a_hook_returning_garbage_blocks() -> None:
    reg = HookRegistry()
    reg.add("before_tool", lambda e: "yes please")
    out = reg.run(tool())
    assert out.action is Action.BLOCK and "invalid result" in out.reason


def test_modify_replaces_the_input_for_later_hooks() -> None:
    reg, seen = HookRegistry(), []
    reg.add("before_tool", lambda e: HookResult.modify({"path": "/tmp/safe.txt"}), priority=1)
    reg.add("before_tool", lambda e: seen.append(e.tool_input["path"]), priority=2)
    event = tool(path="/etc/passwd")
    out = reg.run(event)
    assert out.new_input == {"path": "/tmp/safe.txt"}
    assert event.tool_input == {"path": "/tmp/safe.txt"}
    assert seen == ["/tmp/safe.txt"]
    with pytest.raises(TypeError):
        HookResult.modify("not a dict")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "matcher, hits, misses",
    [
        ("write_*", ["write_file", "write_bytes"], ["read_file", "rewrite_file"]),
        ("re:(read|list)_files?", ["read_file", "list_files"], ["write_file", "read_files_now"]),
        (re.compile(r"exec.*"), ["execute_command"], ["run_exec"]),
    ],
)
def test_matcher_filters_tool_names(matcher: object, hits: list[str], misses: list[str]) -> None:
    reg = HookRegistry()
    reg.add("before_tool", lambda e: HookResult.block("matched"), matcher=matcher)  # type: ignore[arg-type]
    for name in hits:
        assert reg.run(tool(name)).action is Action.BLOCK, name
    for name in misses:
        assert reg.run(tool(name)).action is Action.ALLOW, name


def test_matcher_hooks_do_not_fire_for_prompts() -> None:
    reg = HookRegistry()
    reg.add("before_agent", lambda e: HookResult.block("tool hook"), matcher="*")
    reg.add("before_agent", lambda e: HookResult.ask("every prompt"))
    out = reg.run(BeforeAgentEvent(prompt="hello"))
    assert out.action is Action.ASK


def test_decorator_form_and_remove() -> None:
    reg = HookRegistry()

    @reg.add("before_tool")
    def deny_all(event: BeforeToolEvent) -> HookResult:
        return HookResult.block("decorated")

    assert reg.run(tool()).action is Action.BLOCK
    assert reg.remove(deny_all) is True
    assert reg.run(tool()).action is Action.ALLOW
    hook_id = reg.add("after_tool", lambda e: None)
    assert reg.remove(hook_id) is True
    assert reg.remove(hook_id) is False
    assert len(reg) == 0


def test_unknown_event_is_rejected() -> None:
    with pytest.raises(ValueError):
        HookRegistry().add("before_lunch", lambda e: None)
    with pytest.raises(ValueError):
        HookRegistry().add("security_alert", lambda e: None)
