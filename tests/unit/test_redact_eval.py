"""The engine on the shared labelled set: quality bars from issue 5, and the audit-log proof
(every labelled secret fed as tool input is absent from audit.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

from airlock.redaction import disable_redaction, enable_redaction
from airlock.redaction._eval import evaluate
from tests.conftest import shared_file


def test_dev_set_quality_bars() -> None:
    s = evaluate(shared_file("data", "secrets", "dev.jsonl")).summary()
    assert s["recall"] >= 0.95, s
    assert s["full_cover_recall"] >= 0.90, s
    assert s["flagged"]["benign"] <= 0.02, s
    assert s["flagged"]["near_miss"] <= 0.10, s


def test_no_dev_secret_reaches_the_audit_log(tmp_path: Path) -> None:
    from airlock.audit import AuditLog
    from airlock.events import AuditRecord, utc_iso

    docs = [json.loads(line) for line in shared_file("data", "secrets", "dev.jsonl").read_text().splitlines()]
    docs = [d for d in docs if d["tier"] == "positive"]
    log_path = tmp_path / "audit.jsonl"
    enable_redaction()  # the default already; said explicitly so the test states what it covers
    try:
        log = AuditLog(log_path)
        for d in docs:
            log.append(AuditRecord(timestamp=utc_iso(), session_id="s", agent_name="a", tool_name="shell",
                                   tool_input={"cmd": d["text"]}, execution_time_ms=1.0, error=None,
                                   event="before_tool", decision="allowed", decided_by="test"))
    finally:
        disable_redaction()
    written = [json.loads(line)["tool_input"]["cmd"] for line in log_path.read_text("utf-8").splitlines()]
    assert len(written) == len(docs)
    total = leaked = 0
    for d, cmd in zip(docs, written):
        for s in d["spans"]:
            secret = d["text"][s["start"]:s["end"]]
            if len(secret) < 12:
                continue
            total += 1
            leaked += secret in cmd
    # the engine alone finds ~97%; the audit log's last line (redaction/_strict.py) masks the rest
    assert total > 300 and leaked == 0, (leaked, total)
