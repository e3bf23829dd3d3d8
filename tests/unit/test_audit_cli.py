"""``python -m airlock audit verify|tail|search`` as a user runs it: real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airlock.audit import AuditLog, default_path
from airlock.events import AuditRecord

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "core"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "airlock", "audit", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def rec(i: int, **kw: object) -> AuditRecord:
    base: dict = dict(timestamp=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z", session_id="s", agent_name="alice",
                      tool_name="read_file", tool_input={"path": f"/srv/{i}"}, execution_time_ms=1.5, error=None,
                      event="before_tool", decision="allowed", decided_by="policy:r1")
    base.update(kw)
    return AuditRecord(**base)  # type: ignore[arg-type]


@pytest.fixture
def logfile() -> Path:
    """Twelve records at the default path (conftest gives each test its own XDG_STATE_HOME)."""
    log = AuditLog()
    for i in range(10):
        log.append(rec(i))
    log.append(rec(10, agent_name="mallory", tool_name="execute_command", tool_input={"cmd": "rm -rf / --no-preserve-root"},
                   decision="blocked", decided_by="injection", threat_level="CRITICAL", reason="destructive"))
    log.append(rec(11, agent_name="bob", tool_name="write_file", tool_input={"path": "/etc/hosts"},
                   decision="denied", decided_by="user", timestamp="2999-01-01T00:00:00Z"))
    log.close()
    return default_path()


def test_verify_intact(logfile: Path) -> None:
    out = run("verify")
    assert out.returncode == 0, out.stderr
    assert "intact: 12 records" in out.stdout
    j = run("verify", str(logfile), "--json")
    assert j.returncode == 0 and json.loads(j.stdout)["ok"] is True and json.loads(j.stdout)["records"] == 12


@pytest.mark.parametrize("how,kind", [("edit", "edited"), ("delete", "deleted"), ("swap", "reordered"),
                                      ("truncate", "truncated")])
def test_verify_tampered_exit_1(logfile: Path, how: str, kind: str) -> None:
    lines = logfile.read_bytes().splitlines(keepends=True)
    if how == "edit":
        lines[3] = lines[3].replace(b'"allowed"', b'"blocked"')
    elif how == "delete":
        del lines[3]
    elif how == "swap":
        lines[3], lines[4] = lines[4], lines[3]
    else:
        lines = lines[:-2]
    logfile.write_bytes(b"".join(lines))
    out = run("verify", str(logfile))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "TAMPERED" in out.stdout and f"what: {kind}" in out.stdout and "line: " in out.stdout
    assert str(logfile) in out.stdout
    j = json.loads(run("verify", "--json").stdout)
    assert j["ok"] is False and j["kind"] == kind and isinstance(j["first_bad"], int) and j["bad_file"] == str(logfile)


def test_verify_partial_tail_warns_exit_0(logfile: Path) -> None:
    with open(logfile, "ab") as f:
        f.write(b'{"agent":{},"agent_name":"al')
    out = run("verify")
    assert out.returncode == 0
    assert "WARNING" in out.stderr and "crash" in out.stderr and "not tampering" in out.stderr
    assert json.loads(run("verify", "--json").stdout)["partial_tail"] is True


def test_verify_missing_and_usage_exit_2(tmp_path: Path) -> None:
    out = run("verify", str(tmp_path / "none.jsonl"))
    assert out.returncode == 2 and "no audit log" in out.stderr
    assert run("verify").returncode == 2  # nothing at the default path yet
    assert run("verify", "--bogus").returncode == 2
    assert run("tail", "-n", "abc").returncode == 2
    assert run("search", "--decision", "maybe").returncode == 2


def test_tail(logfile: Path) -> None:
    out = run("tail", "-n", "3")
    assert out.returncode == 0
    rows = out.stdout.strip().splitlines()
    assert len(rows) == 3 and "#9" in rows[0] and "BLOCKED" in rows[1] and "mallory" in rows[1]
    j = [json.loads(x) for x in run("tail", "-n", "5", "--json").stdout.splitlines()]
    assert [r["seq"] for r in j] == [7, 8, 9, 10, 11]


@pytest.mark.timeout(60)
def test_tail_follow_sees_new_records(logfile: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "core")}
    proc = subprocess.Popen([sys.executable, "-m", "airlock", "audit", "tail", "-f", "-n", "1", "--json", "--poll", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["seq"] == 11
        log = AuditLog()
        log.append(rec(12, reason="live one"))
        got = json.loads(proc.stdout.readline())
        assert got["seq"] == 12 and got["reason"] == "live one"
    finally:
        proc.terminate()
        proc.wait(10)


def test_search(logfile: Path) -> None:
    out = run("search", "rm -rf")
    assert out.returncode == 0 and "mallory" in out.stdout and out.stdout.count("\n") == 1
    assert "1 record(s)" in out.stderr
    j = [json.loads(x) for x in run("search", "--decision", "blocked", "--decision", "denied", "--json").stdout.splitlines()]
    assert sorted(r["agent_name"] for r in j) == ["bob", "mallory"]
    assert [json.loads(x)["seq"] for x in run("search", "--tool", "exec*", "--json").stdout.splitlines()] == [10]
    assert [json.loads(x)["seq"] for x in run("search", "--agent", "bob", "--json").stdout.splitlines()] == [11]
    assert [json.loads(x)["seq"] for x in run("search", "--since", "2d", "--json").stdout.splitlines()] == [11]
    assert len(run("search", "/SRV/", "--json").stdout.splitlines()) == 10  # case-insensitive
    assert run("search", "nothing-like-this").stdout == ""
    bad = run("search", "x", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "not a time" in bad.stderr


def test_search_missing_log_exit_2(tmp_path: Path) -> None:
    assert run("search", "x", "--path", str(tmp_path / "nope.jsonl")).returncode == 2
    assert run("tail", "--path", str(tmp_path / "nope.jsonl")).returncode == 2
