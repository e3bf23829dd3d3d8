"""A real PraisonAI agent using Airlock's ``execute_code`` tool (fake OpenAI on 127.0.0.1):
approved, the code runs in the sandbox and the model sees its output; denied, it never runs
and the model is told why."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("praisonaiagents")

import airlock  # noqa: E402
from airlock import audit, tools  # noqa: E402
from airlock._runtime import runtime  # noqa: E402
from airlock.integrations import praisonai as bridge  # noqa: E402
from airlock.sandbox import sandbox_status  # noqa: E402
from tests.integration.fake_openai import FakeOpenAI, Step  # noqa: E402

pytestmark = pytest.mark.skipif(not sandbox_status()["usable"], reason="bubblewrap sandbox not usable here")


class Human:
    def __init__(self, approve: bool) -> None:
        self.approve = approve
        self.asked: list[str] = []

    def decide(self, request: Any) -> Any:
        self.asked.append(request.event.tool_name)
        return airlock.ApprovalDecision(self.approve, "user", "approved in the test" if self.approve
                                        else "the user said no to running code")


@pytest.fixture()
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server, pytest.MonkeyPatch.context() as mp:
        for name, value in server.agent_env().items():
            mp.setenv(name, value)
        mp.delenv("PRAISONAI_AUTO_APPROVE", raising=False)
        yield server


@pytest.fixture()
def guarded(tmp_path: Path) -> Iterator[Path]:
    path = airlock.enable_audit_log(tmp_path / "audit.jsonl")
    bridge.install(runtime)
    try:
        yield path
    finally:
        bridge.uninstall()
        runtime.engine.hooks.clear()
        runtime.engine.approver = None
        airlock.disable_security()


def _run(llm: FakeOpenAI, code: str) -> tuple[Step, str]:
    from praisonaiagents import Agent

    step = Step.call("execute_code", code=code)
    llm.reset([step, Step.final("done")])
    # PraisonAI's default safety preset hard-denies tools named execute_code in non-interactive
    # sessions; handing it Airlock's approval backend lets Airlock (and its human) decide instead.
    Agent(name="coder", instructions="Be brief.", tools=tools.praisonai_tools("execute_code"),
          approval=bridge.AirlockApprovalBackend(), model="gpt-4o-mini").start("compute 6*7 with python")
    return step, llm.tool_result_text(step.tool_calls[0].id) or ""


def test_approved_execute_code_runs_in_the_sandbox(guarded: Path, llm: FakeOpenAI) -> None:
    human = Human(approve=True)
    runtime.engine.approver = human
    _step, seen = _run(llm, "print(6 * 7)")
    assert "42" in seen, seen
    assert human.asked and set(human.asked) == {"execute_code"}
    recs = [r for r in audit.iter_records(guarded) if r["tool_name"] == "execute_code"]
    assert any(r["event"] == "before_tool" and r["decision"] == "approved" for r in recs)


def test_denied_execute_code_never_runs(guarded: Path, llm: FakeOpenAI) -> None:
    human = Human(approve=False)
    runtime.engine.approver = human
    _step, seen = _run(llm, "print('RAN-' + 'MARKER')")
    assert "RAN-MARKER" not in seen
    assert "the user said no to running code" in seen, seen
    assert human.asked == ["execute_code"]
    recs = [r for r in audit.iter_records(guarded) if r["tool_name"] == "execute_code"]
    assert any(r["event"] == "before_tool" and r["decision"] == "denied" for r in recs)
    assert not any(r["event"] == "after_tool" for r in recs)


def test_approved_execute_code_asks_the_human_once(guarded: Path, llm: FakeOpenAI) -> None:
    human = Human(approve=True)
    runtime.engine.approver = human
    _run(llm, "print(1)")
    assert human.asked == ["execute_code"]
