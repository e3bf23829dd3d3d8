"""Output filter: secrets masked in tool results, active content flagged, linear on bad input."""

from __future__ import annotations

import time

import airlock
from airlock.events import Action, AfterToolEvent
from airlock.redaction import filter_output, output_hook, validate_output_safety

SLACK = "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD"


def test_public_api_exports() -> None:
    assert airlock.find_secrets(f"t {SLACK}")[0].kind == "slack_token"
    assert SLACK not in airlock.redact(f"t {SLACK}")


def test_filter_output_masks_engine_hits_and_context_values() -> None:
    out = filter_output(f"key {SLACK}; db pw hunter2x", {"db_password": "hunter2x", "user": "bob"})
    assert SLACK not in out and "hunter2x" not in out
    assert "[REDACTED:context]" in out and "[REDACTED:slack_token]" in out


def test_validate_output_safety() -> None:
    for bad in ("<script>alert(1)</script>", "<SCRIPT src=x>", "< iframe src=//evil>", '<a href="JavaScript:x">',
                "java\tscript:alert(1)"):
        safe, why = validate_output_safety(bad)
        assert not safe and why, bad
    for ok in ("plain text", "<b>bold</b>", "the javascript language", "describe: scripts"):
        assert validate_output_safety(ok) == (True, None), ok


def test_validate_output_safety_is_linear_on_unclosed_tags() -> None:
    t0 = time.perf_counter()
    validate_output_safety("<scrip" * 200_000 + "j " * 100_000)
    assert time.perf_counter() - t0 < 2.0


def test_after_tool_hook_redacts_and_blocks() -> None:
    ev = AfterToolEvent(tool_name="http_get", output={"body": [f"token={SLACK}"], "n": 3})
    r = output_hook(ev)
    assert r.action == Action.ALLOW and SLACK not in str(ev.output) and ev.output["n"] == 3
    ev = AfterToolEvent(tool_name="http_get", output="<html><script>steal()</script>")
    assert output_hook(ev).action == Action.BLOCK
