"""Readers: iter_records, tail, follow (across rotation), search; all on real files."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from airlock import audit_read
from airlock._audit_files import MAX_LINE, reverse_lines
from airlock.audit import AuditLog, follow, iter_records, search, tail
from airlock.events import AuditRecord


def rec(i: int, **kw: object) -> AuditRecord:
    base: dict = dict(timestamp="2026-03-01T12:00:00Z", session_id="s", agent_name="a", tool_name="read_file",
                      tool_input={"i": i}, execution_time_ms=None, error=None, event="before_tool",
                      decision="allowed", decided_by="policy")
    base.update(kw)
    return AuditRecord(**base)  # type: ignore[arg-type]


def test_tail_and_iter_across_rotation(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    log = AuditLog(p, max_bytes=2048, backups=100)
    for i in range(50):
        log.append(rec(i))
    assert [r["seq"] for r in tail(p, 30)] == list(range(20, 50))  # spans several files
    assert [r["seq"] for r in tail(p, 500)] == list(range(50))
    assert tail(p, 0) == []
    assert [r["seq"] for r in iter_records(p)] == list(range(50))
    assert [r["seq"] for r in iter_records(p, include_rotated=False)][-1] == 49


def test_readers_skip_partial_and_garbage(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    log = AuditLog(p)
    for i in range(3):
        log.append(rec(i))
    with open(p, "ab") as f:
        f.write(b"garbage\n" + b"x" * (MAX_LINE + 10) + b"\n" + b'{"agent":{},"partial')
    assert [r["seq"] for r in iter_records(p)] == [0, 1, 2]
    assert [r["seq"] for r in tail(p, 10)] == [0, 1, 2]


@pytest.mark.parametrize("tail_bytes", [b"", b"partial", b"p" * 200_000])
def test_reverse_lines_matches_forward(tmp_path: Path, tail_bytes: bytes) -> None:
    lines = [f"line {i} ".encode() * (i % 7 + 1) for i in range(3000)] + [b"y" * 150_000, b"last"]
    p = tmp_path / "f"
    p.write_bytes(b"\n".join(lines) + b"\n" + tail_bytes)
    import os

    fd = os.open(p, os.O_RDONLY)
    try:
        got = list(reverse_lines(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)
    assert got == [x for x in reversed(lines) if x]


@pytest.mark.timeout(60)
def test_follow_across_rotation(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    log = AuditLog(p, max_bytes=2048, backups=100)
    for i in range(3):
        log.append(rec(i))
    done = threading.Event()
    seen: list[int] = []

    def reader() -> None:
        for r in follow(p, n=2, poll=0.02, stop=done.is_set):
            seen.append(r["seq"])
            if r["seq"] == 60:
                done.set()

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)
    for i in range(3, 61):  # rotates several times while followed
        log.append(rec(i, tool_input={"i": i, "pad": "z" * 200}))
        time.sleep(0.005)
    t.join(30)
    done.set()
    assert not t.is_alive()
    assert seen == list(range(1, 61)), seen


def test_follow_waits_for_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "later.jsonl"
    stop = threading.Event()
    out: list[int] = []
    t = threading.Thread(target=lambda: out.extend(r["seq"] for r in follow(p, n=5, poll=0.02, stop=stop.is_set)))
    t.start()
    time.sleep(0.1)
    AuditLog(p).append(rec(0))
    deadline = time.time() + 10
    while not out and time.time() < deadline:
        time.sleep(0.02)
    stop.set()
    t.join(10)
    assert out == [0]


def test_search_filters(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    log = AuditLog(p)
    log.append(rec(0, timestamp="2026-01-01T00:00:00Z"))
    log.append(rec(1, tool_name="execute_command", decision="blocked", tool_input={"cmd": "Curl EVIL.example"}))
    log.append(rec(2, agent_name="b", findings=[{"check": "instruction_override", "evidence": "ignore all"}]))
    assert [r["seq"] for r in search("evil.EXAMPLE", p)] == [1]
    assert [r["seq"] for r in search("instruction_override", p)] == [2]  # nested in findings
    assert [r["seq"] for r in search("", p, decisions=["blocked"])] == [1]
    assert [r["seq"] for r in search("", p, tools=["read_*"])] == [0, 2]
    assert [r["seq"] for r in search("", p, agents=["b"])] == [2]
    since = dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc)
    assert [r["seq"] for r in search("", p, since=since)] == [1, 2]
    assert [r["seq"] for r in search("", p, limit=2)] == [0, 1]
    # the chain hashes are not content: a hex query does not match every record
    assert list(search(next(iter_records(p))["hash"][:12], p)) == []


def test_parse_since() -> None:
    now = dt.datetime(2026, 1, 10, tzinfo=dt.timezone.utc)
    assert audit_read.parse_since("2d", now) == dt.datetime(2026, 1, 8, tzinfo=dt.timezone.utc)
    assert audit_read.parse_since("30m", now) == now - dt.timedelta(minutes=30)
    assert audit_read.parse_since("2026-01-01T00:00:00Z") == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert audit_read.parse_since("2026-01-01").tzinfo is not None
    for bad in ("", "soon", "5y", "9" * 40 + "d", "x" * 10_000):
        with pytest.raises(ValueError):
            audit_read.parse_since(bad)
