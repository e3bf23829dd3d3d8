"""The SQLite/FTS5 audit index: incremental catch-up, rotation, truncation, queries, hostile input."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

import pytest

from airlock.audit import AuditLog
from airlock.audit_index import AuditIndex, default_index_path, parse_search
from airlock._audit_query import fts_expression
from airlock.events import (Action, AgentIdentity, AuditRecord, BeforeToolEvent, Decision, Outcome, RiskLevel,
                            Verdict)


def _write(log: AuditLog, agent: str = "bot", tool: str = "read_file", outcome: Outcome = Outcome.ALLOWED,
           inp: dict | None = None, ts: str | None = None) -> AuditRecord:
    ev = BeforeToolEvent(tool_name=tool, tool_input=inp or {"path": f"/tmp/{tool}"}, agent=AgentIdentity(name=agent))
    v = Verdict(Action.ALLOW, "", "policy", risk=RiskLevel.LOW)
    rec = AuditRecord.from_decision(ev, Decision(outcome, f"{outcome.value} by policy", "policy", v, ev.tool_input))
    if ts is not None:
        rec.timestamp = ts
    return log.append(rec)


@pytest.fixture
def env(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    idx = AuditIndex(log.path, tmp_path / "idx.sqlite3")
    yield log, idx
    idx.close()
    log.close()


def _seqs(idx: AuditIndex, text: str = "", **kw) -> list[int]:
    return [r["seq"] for r in idx.search(text, order="asc", limit=10_000, **kw)]


def test_default_location_is_the_xdg_cache(tmp_path):
    p = default_index_path(tmp_path / "audit.jsonl")
    assert str(p).startswith(os.environ["XDG_CACHE_HOME"]) and p.suffix == ".sqlite3"
    idx = AuditIndex(tmp_path / "audit.jsonl")
    assert idx.path == p and p.exists() and (p.parent.stat().st_mode & 0o077) == 0
    idx.close()


def test_incremental_catch_up_reads_only_new_lines(env):
    log, idx = env
    for i in range(5):
        _write(log, tool=f"t{i}")
    r = idx.catch_up()
    assert (r.added, r.last_seq, r.rebuilt) == (5, 4, False)
    assert idx.catch_up().added == 0
    _write(log, tool="t5")
    with open(log.path, "ab") as f:  # a line still being written is not consumed
        f.write(b'{"agent":{},"seq":')
    r = idx.catch_up()
    assert (r.added, r.prev_last_seq, r.last_seq) == (1, 4, 5)
    assert _seqs(idx) == [0, 1, 2, 3, 4, 5] and idx.count() == 6
    row = idx.search(limit=1)[0]
    assert row["seq"] == 5 and row["tool"] == "t5" and row["agent"] == "bot" and row["decision"] == "allowed"
    assert row["level"] == "LOW" and row["decided_by"] == "policy" and row["event"] == "before_tool"
    assert abs(row["epoch"] - dt.datetime.fromisoformat(row["timestamp"]).timestamp()) < 1e-3
    full = idx.get(5)
    assert full["tool_input"] == {"path": "/tmp/t5"} and full["hash"] and idx.get(99) is None


def test_rotation_is_followed_and_deleted_backups_are_pruned(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=4096, backups=2)
    idx = AuditIndex(log.path, tmp_path / "idx.sqlite3")
    for i in range(4):
        _write(log, tool=f"a{i}")
    assert idx.catch_up().added == 4
    for i in range(4, 14):  # ~700 bytes per record: rotates at least twice
        _write(log, tool=f"a{i}")
    assert (tmp_path / "audit.jsonl.1").exists()
    r = idx.catch_up()
    present = sorted(rec["seq"] for rec in __import__("airlock.audit", fromlist=["x"]).iter_records(log.path))
    assert r.added == 10 or r.pruned  # the newest backup was finished, then the live file
    assert _seqs(idx) == present and present[-1] == 13
    for i in range(14, 30):  # many more rotations: the oldest files are deleted
        _write(log, tool=f"a{i}")
    r = idx.catch_up()
    present = sorted(rec["seq"] for rec in __import__("airlock.audit", fromlist=["x"]).iter_records(log.path))
    assert present[0] > 0 and r.pruned > 0
    assert _seqs(idx) == present  # rows of deleted files are gone, nothing was skipped
    assert all(idx.get(s)["seq"] == s for s in present)
    idx.close()


def test_a_reused_inode_in_the_live_file_is_not_taken_for_a_rotated_backup(tmp_path):
    """A deleted backup's inode is often reused at once by the new live file. Following it there
    read the newest records as the oldest and pruned everything in between (seen in CI)."""
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=4096, backups=2)
    idx = AuditIndex(log.path, tmp_path / "idx.sqlite3")
    for i in range(30):
        _write(log, tool=f"a{i}")
    live_ino = os.stat(log.path).st_ino
    oldest = tmp_path / "audit.jsonl.2"
    assert oldest.exists() and os.stat(oldest).st_ino != live_ino
    assert idx._open_same(oldest, live_ino) is None  # only the live file has it: not a rename
    with idx._open_same(log.path, live_ino) as fh:
        assert os.fstat(fh.fileno()).st_ino == live_ino
    idx.close()


def test_catch_up_during_fast_rotation_never_loses_or_prunes_live_records(tmp_path):
    """A writer rotating every few records on one thread, catch-ups on another: at the end the
    index holds exactly the records on disk."""
    from airlock.audit import iter_records

    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=2048, backups=3)
    idx = AuditIndex(log.path, tmp_path / "idx.sqlite3")
    done = threading.Event()

    def writer() -> None:
        for i in range(400):
            _write(log, tool=f"w{i}")
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    while not done.is_set():
        idx.catch_up()
    t.join(30)
    idx.catch_up()
    present = sorted(r["seq"] for r in iter_records(log.path))
    assert present[-1] == 399 and present[0] > 0
    assert _seqs(idx) == present
    idx.close()


def test_truncation_and_rewrite_trigger_a_rebuild(env):
    log, idx = env
    for i in range(6):
        _write(log, tool=f"x{i}")
    idx.catch_up()
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:3]))  # truncated in place
    r = idx.catch_up()
    assert r.rebuilt and "truncated" in r.reason and _seqs(idx) == [0, 1, 2]
    # same size, different content (an edited last line): noticed by re-reading the last line
    data = log.path.read_bytes().replace(b"x2", b"y2")
    log.path.write_bytes(data)
    r = idx.catch_up()
    assert r.rebuilt and "rewritten" in r.reason and idx.search("y2")[0]["seq"] == 2
    # the log started over (deleted and recreated with seq 0)
    log.close()
    for p in log.path.parent.glob("audit.jsonl*"):
        p.unlink()
    log2 = AuditLog(log.path)
    _write(log2, tool="fresh")
    r = idx.catch_up()
    assert r.rebuilt and _seqs(idx) == [0] and idx.search()[0]["tool"] == "fresh"
    log2.close()


def test_rebuild_gives_the_same_index(env):
    log, idx = env
    for i in range(20):
        _write(log, agent=f"a{i % 3}", tool=f"t{i}")
    idx.catch_up()
    before = idx.search(limit=100)
    r = idx.rebuild()
    assert r.rebuilt and r.added == 20 and idx.search(limit=100) == before


def test_corrupt_index_file_is_replaced(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    _write(log)
    p = tmp_path / "idx.sqlite3"
    p.write_bytes(b"this is not a database" * 100)
    idx = AuditIndex(log.path, p)
    assert idx.catch_up().added == 1 and idx.count() == 1
    idx.close()


def test_query_syntax_filters_and_time_ranges(env):
    log, idx = env
    _write(log, "research-bot", "read_file", Outcome.ALLOWED, {"path": "/home/u/secret_plans.txt"},
           ts="2026-11-01T10:00:00+00:00")
    _write(log, "mailer", "send_email", Outcome.DENIED, {"subject": "see invoice.pdf", "body": "quarterly budget"},
           ts="2026-11-02T10:00:00+00:00")
    _write(log, "mailer", "write_file", Outcome.TIMEOUT, {"path": "/tmp/report"}, ts="2026-11-03T10:00:00Z")
    idx.catch_up()
    assert _seqs(idx, "agent:mail") == [1, 2] and _seqs(idx, "agent:*bot") == [0] and _seqs(idx, "agent:bot") == []
    assert _seqs(idx, "agent:MAILER decision:den") == [1]
    assert _seqs(idx, "decision:denied,timeout") == [1, 2]
    assert _seqs(idx, "tool:*_file") == [0, 2] and _seqs(idx, "tool:send") == [1] and _seqs(idx, "tool:_") == []
    assert _seqs(idx, "level:low") == [0, 1, 2] and _seqs(idx, "level:lo") == []
    assert _seqs(idx, "secret") == [0] and _seqs(idx, "secre") == [0]  # word prefixes
    assert _seqs(idx, "quarterly budget") == [1] and _seqs(idx, '"budget quarterly"') == []
    assert _seqs(idx, "invoice.pdf") == [1] and _seqs(idx, "invoice.doc") == []
    assert _seqs(idx, "since:2026-11-02") == [1, 2] and _seqs(idx, "until:2026-11-02") == [0, 1]
    assert _seqs(idx, "since:2026-11-01T12:00 until:2026-11-02T12:00") == [1]
    assert _seqs(idx, "agent:mailer", since="2026-11-03") == [2]
    assert _seqs(idx, tool="write_file") == [2] and _seqs(idx, decision=["allowed", "timeout"]) == [0, 2]
    assert idx.count("agent:mailer") == 2 and idx.count("agent:mailer", after_seq=1) == 1
    q = parse_search("last:2h since:nonsense foo", now=1_000_000.0)
    assert q.since == 1_000_000.0 - 7200 and q.words == ["foo"] and "not a time" in q.errors[0]
    assert parse_search("last:forever").errors
    # sorting by a column, then seq; paging by offset
    assert [r["agent"] for r in idx.search(sort="agent", order="asc")] == ["mailer", "mailer", "research-bot"]
    assert [r["seq"] for r in idx.search(offset=1, limit=1)] == [1]
    with pytest.raises(ValueError):
        idx.search(sort="hash; DROP TABLE records")
    with pytest.raises(ValueError):
        idx.search(order="sideways")


@pytest.mark.parametrize("text", ['"', '""', '"unterminated', "*", "**", "NEAR(", "NEAR(a b)", ")", "(", "OR",
                                  "AND", "NOT", "a OR", "OR b", "^", "-", "col:x", "body:secret", "{body}: x",
                                  "'; DROP TABLE records; --", "\\", "%", "_", "agent:%", "tool:_", "\x00",
                                  "a" * 5000, "ü*", 'x" OR "y', "secret*", "NEAR(secret, 5)"])
def test_fts_injection_strings_never_break_or_widen_the_search(env, text):
    log, idx = env
    _write(log, "bot", "read_file", inp={"path": "/x/secret"})
    _write(log, "bot", "shell", inp={"cmd": "NEAR( x OR * )"})
    idx.catch_up()
    got = _seqs(idx, text)  # must not raise
    assert idx.count(text) == len(got)
    q = parse_search(text)
    if q.words and not fts_expression(q.words):
        assert got == []  # words that cannot match any token match nothing, never everything
    assert set(got) <= {0, 1}
    assert idx.count() == 2  # and the tables are still there


def test_fts_expression_quotes_every_word():
    assert fts_expression(['a"b', "OR", "NEAR("]) == '"a""b"* "OR"* "NEAR("*'
    assert fts_expression(["*", ")", '"']) == ""


def test_parser_is_linear_on_hostile_input():
    t0 = time.perf_counter()
    parse_search('"' * 200_000)
    parse_search("agent:" * 100_000)
    parse_search("a " * 100_000)
    parse_search("since:" + "9" * 100_000)
    assert time.perf_counter() - t0 < 2


def test_readers_and_writer_on_threads(env):
    """A writer thread catching up while another thread searches: separate connections, WAL."""
    log, idx = env
    stop = threading.Event()
    errors: list[BaseException] = []
    counts: list[int] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                counts.append(idx.count("bot"))
                idx.search("agent:bot", limit=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        _write(log, tool=f"t{i}")
        if i % 20 == 0:
            idx.catch_up()
    idx.catch_up()
    stop.set()
    t.join(10)
    assert errors == [] and counts and counts == sorted(counts)  # never goes backwards
    assert idx.count("bot") == 200


def test_two_index_objects_share_one_file_without_duplicates(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    a = AuditIndex(log.path, tmp_path / "idx.sqlite3")
    b = AuditIndex(log.path, tmp_path / "idx.sqlite3")
    for i in range(50):
        _write(log, tool=f"t{i}")
    ts = [threading.Thread(target=x.catch_up) for x in (a, b, a, b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert a.count() == 50 and b.count() == 50 and a.count("t49") == 1
    a.close()
    b.close()


def test_unparseable_and_huge_lines_are_skipped(env):
    log, idx = env
    _write(log, tool="before")
    with open(log.path, "ab") as f:
        f.write(b"not json at all\n[1,2]\n" + b"x" * (5 << 20) + b"\n")
    _write(log, tool="after")
    idx.catch_up()
    assert [r["tool"] for r in idx.search(order="asc")] == ["before", "after"]


def test_get_many_and_iter_records_read_the_jsonl_in_view_order(env):
    log, idx = env
    for i in range(12):
        _write(log, agent="a" if i % 2 else "b", tool=f"t{i}")
    idx.catch_up()
    assert [r["seq"] for r in idx.get_many([5, 1, 99, 3])] == [5, 1, 3]
    got = list(idx.iter_records("agent:a", order="desc", page=2))
    assert [r["seq"] for r in got] == [11, 9, 7, 5, 3, 1] and all(r["agent_name"] == "a" for r in got)
    assert got[0]["tool_input"] == {"path": "/tmp/t11"} and "hash" in got[0]


def test_stopped_catch_up_resumes_where_it_left_off(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=64 * 1024, backups=5)
    for i in range(150):
        _write(log, tool=f"t{i}")
    idx = AuditIndex(log.path, tmp_path / "idx.sqlite3")
    calls = []
    first = idx.catch_up(stop=lambda: calls.append(1) or True)
    assert calls and 0 < first.added < 150  # stopped after the first file
    rest = idx.catch_up()
    assert first.added + rest.added == 150 and _seqs(idx) == list(range(150))
    idx.close()
