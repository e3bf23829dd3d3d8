"""The audit writer on real files: fields, chaining, redaction, odd values, several processes, rotation."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
from pathlib import Path

import pytest

from airlock import audit
from airlock.audit import AuditLog, iter_records, verify
from airlock.events import AuditRecord

REFERENCE_FIELDS = ("timestamp", "session_id", "agent_name", "tool_name", "tool_input", "execution_time_ms", "error")
AIRLOCK_FIELDS = ("event", "decision", "decided_by", "threat_level", "findings", "seq", "prev_hash", "hash")


def rec(tool_input: object = None, **kw: object) -> AuditRecord:
    base: dict = dict(timestamp="2026-01-01T00:00:00Z", session_id="s1", agent_name="agent", tool_name="write_file",
                      tool_input={"path": "/tmp/x"} if tool_input is None else tool_input, execution_time_ms=None,
                      error=None, event="before_tool", decision="allowed", decided_by="policy:r1")
    base.update(kw)
    return AuditRecord(**base)  # type: ignore[arg-type]


def lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_bytes().splitlines()]


def test_fields_chain_and_default_path(tmp_path: Path) -> None:
    log = AuditLog()  # default: $XDG_STATE_HOME/airlock/audit.jsonl (conftest points XDG at tmp)
    assert log.path == Path(os.environ["XDG_STATE_HOME"]) / "airlock" / "audit.jsonl"
    a = log.append(rec())
    b = log.append(rec(decision="blocked", decided_by="hook"))
    got = lines(log.path)
    assert [r["seq"] for r in got] == [0, 1]
    for r in got:
        for f in REFERENCE_FIELDS + AIRLOCK_FIELDS:
            assert f in r, f
    assert got[0]["prev_hash"] == "0" * 64 and got[1]["prev_hash"] == got[0]["hash"]
    assert (a.seq, a.hash, b.prev_hash) == (0, got[0]["hash"], got[0]["hash"])
    assert got[1]["decision"] == "blocked"
    assert oct(log.path.stat().st_mode & 0o777) == oct(0o600)
    assert verify(log.path).ok


def test_written_before_append_returns(tmp_path: Path) -> None:
    """Flushed: another open file description sees the line the moment append returns."""
    p = tmp_path / "a.jsonl"
    log = AuditLog(p)
    for i in range(5):
        log.append(rec({"i": i}))
        with open(p, "rb") as f:  # a fresh reader, no shared buffers
            assert json.loads(f.read().splitlines()[-1])["tool_input"] == {"i": i}


def test_chain_continues_across_reopen(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    with AuditLog(p) as log:
        log.append(rec())
    with AuditLog(p) as log:
        r = log.append(rec())
    assert r.seq == 1 and verify(p).ok and verify(p).records == 2


def test_callers_record_not_modified(tmp_path: Path) -> None:
    r = rec({"password": "hunter2"})
    AuditLog(tmp_path / "a.jsonl").append(r)
    assert r.seq == -1 and r.tool_input == {"password": "hunter2"}


def test_append_type_checked(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        AuditLog(tmp_path / "a.jsonl").append({"decision": "allowed"})  # type: ignore[arg-type]


# ----------------------------------------------------------------- redaction
SECRETS = {
    "openai": "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_" + "a" * 36,
    "bearer": "eyJhbGciOiJIUzI1NiJ9xyzabc",
}


def test_secrets_redacted_everywhere(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    AuditLog(p).append(rec(
        {"cmd": f"curl -H 'Authorization: Bearer {SECRETS['bearer']}' https://x", "env": {"AWS": SECRETS["aws"]},
         "args": [f"--token {SECRETS['github']}", f"key={SECRETS['openai']}"], "db_password": "correct horse",
         "conn": "postgres://bob:s3cretpw@db/x",
         "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
         SECRETS["openai"]: "as a key"},
        reason=f"password={'p' * 12}", error=f"failed with {SECRETS['aws']}"))
    text = p.read_text()
    for s in list(SECRETS.values()) + ["correct horse", "s3cretpw", "MIIEabc", "p" * 12]:
        assert s not in text, s
    assert "[REDACTED" in text and "curl -H" in text and verify(p).ok


def test_set_redactor_seam(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    seen: list[str] = []

    def mine(s: str) -> str:
        seen.append(s)
        return s.replace("blue", "[COLOUR]")

    audit.set_redactor(mine)
    try:
        AuditLog(p).append(rec({"favourite": "blue"}, reason="blue sky"))
    finally:
        audit.set_redactor(None)
    text = p.read_text()
    assert "blue" not in text and text.count("[COLOUR]") == 2 and "favourite" in seen
    AuditLog(p).append(rec({"favourite": "blue"}))  # built-in redactor restored
    assert lines(p)[-1]["tool_input"]["favourite"] == "blue"


def test_failing_redactor_never_writes_raw(tmp_path: Path) -> None:
    def broken(s: str) -> str:
        raise RuntimeError("boom")

    p = tmp_path / "a.jsonl"
    AuditLog(p, redactor=broken).append(rec({"k": "super-secret-value"}))
    text = p.read_text()
    assert "super-secret-value" not in text and "REDACTION FAILED" in text and verify(p).ok


# ----------------------------------------------------------------- odd values never lose the record
class Hostile:
    def __repr__(self) -> str:
        raise ValueError("no repr for you")


class WeirdStr(str):
    def __getitem__(self, i: object) -> str:  # type: ignore[override]
        raise RuntimeError("hostile")


def deep(n: int) -> object:
    d: object = "bottom"
    for _ in range(n):
        d = {"d": [d]}
    return d


@pytest.mark.parametrize("value", [
    b"\x00\xff" * 10, bytearray(b"abc"), float("nan"), float("inf"), -math.inf, 10**400, {1, 2, 3},
    deep(5000), "x" * (10 * 1024 * 1024), "bad \ud800 surrogate \udfff", {("tuple", "key"): 1, None: 2, 3.5: 4},
    Hostile(), WeirdStr("weird"), [Hostile()] * 3, {"k": object()}, list(range(100_000)),
], ids=["bytes", "bytearray", "nan", "inf", "-inf", "bigint", "set", "deep", "10MB", "surrogates", "keys",
        "hostile-repr", "str-subclass", "hostile-list", "object", "100k-list"])
def test_odd_values_recorded(tmp_path: Path, value: object) -> None:
    p = tmp_path / "a.jsonl"
    log = AuditLog(p)
    out = log.append(rec({"v": value}, reason=value if isinstance(value, str) else "odd"))
    raw = p.read_bytes()
    assert len(raw) <= audit.MAX_RECORD_BYTES + 1
    got = lines(p)
    assert len(got) == 1 and got[0]["seq"] == 0 and out.seq == 0
    assert got[0]["decision"] == "allowed" and got[0]["tool_name"] == "write_file"
    assert verify(p).ok


def test_huge_record_truncated_with_marker(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    AuditLog(p).append(rec({f"k{i}": "v" * 50_000 for i in range(200)}))
    r = lines(p)[0]
    assert r["extra"].get("_audit_truncated") is True and "truncated" in json.dumps(r["tool_input"])


def test_cycle_recorded(tmp_path: Path) -> None:
    a: list = []
    a.append(a)
    p = tmp_path / "a.jsonl"
    AuditLog(p).append(rec({"loop": a}))
    assert "cycle" in p.read_text() and verify(p).ok


# ----------------------------------------------------------------- several processes
def _worker(path: str, wid: int, n: int, barrier: mp.synchronize.Barrier) -> None:  # type: ignore[name-defined]
    log = AuditLog(path, max_bytes=1 << 30)
    barrier.wait()
    for i in range(n):
        log.append(rec({"worker": wid, "i": i}, agent_name=f"w{wid}"))


@pytest.mark.timeout(120)
def test_multiprocess_appends(tmp_path: Path) -> None:
    p = tmp_path / "shared.jsonl"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_worker, args=(str(p), w, 200, barrier)) for w in range(4)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(90)
        assert pr.exitcode == 0
    got = lines(p)
    assert [r["seq"] for r in got] == list(range(800))
    per = {w: [r["tool_input"]["i"] for r in got if r["tool_input"]["worker"] == w] for w in range(4)}
    assert all(v == list(range(200)) for v in per.values())  # each process's own order is kept
    rep = verify(p)
    assert rep.ok and rep.records == 800 and not rep.warnings


def test_forked_child_shares_log(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    log = AuditLog(p)
    log.append(rec())
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            for _ in range(20):
                log.append(rec({"child": True}))
        finally:
            os._exit(0)
    for _ in range(20):
        log.append(rec({"parent": True}))
    os.waitpid(pid, 0)
    assert [r["seq"] for r in iter_records(p)] == list(range(41)) and verify(p).ok


# ----------------------------------------------------------------- rotation
def test_rotation_keeps_chain(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    log = AuditLog(p, max_bytes=4096, backups=50)
    for i in range(100):
        log.append(rec({"i": i}))
    backups = sorted(tmp_path.glob("a.jsonl.[0-9]*"))
    assert len(backups) >= 3
    assert all(f.stat().st_size <= 4096 for f in backups + [p])
    assert [r["seq"] for r in iter_records(p)] == list(range(100))
    rep = verify(p)
    assert rep.ok and rep.records == 100 and len(rep.files) == len(backups) + 1
    # chain links across a file boundary
    oldest_live = lines(p)[0]
    newest_backup = lines(tmp_path / "a.jsonl.1")[-1]
    assert oldest_live["prev_hash"] == newest_backup["hash"]


def test_rotation_drops_oldest_and_still_verifies(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    log = AuditLog(p, max_bytes=2048, backups=2)
    for i in range(60):
        log.append(rec({"i": i}))
    assert not (tmp_path / "a.jsonl.3").exists()
    rep = verify(p)
    assert rep.ok and rep.last_seq == 59 and rep.first_seq > 0
    assert any("rotated away" in w for w in rep.warnings)


def test_rotation_by_several_processes(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_rot_worker, args=(str(p), w, 100, barrier)) for w in range(3)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(90)
        assert pr.exitcode == 0
    rep = verify(p)
    assert rep.ok and rep.first_seq == 0 and rep.last_seq == 299 and rep.records == 300


def _rot_worker(path: str, wid: int, n: int, barrier: mp.synchronize.Barrier) -> None:  # type: ignore[name-defined]
    log = AuditLog(path, max_bytes=8192, backups=1000)
    barrier.wait()
    for i in range(n):
        log.append(rec({"worker": wid, "i": i}))


FULL_DISK = r"""
import resource, signal, sys
from airlock.audit import AuditLog, AuditError
from airlock.events import AuditRecord
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
log = AuditLog(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))  # the file may not grow past 3000 bytes
ok = 0
for i in range(100):
    try:
        log.append(AuditRecord(timestamp="t", session_id="s", agent_name="a", tool_name="x",
                               tool_input={"i": i, "pad": "p" * 300}, execution_time_ms=None, error=None,
                               event="before_tool", decision="allowed", decided_by="policy"))
        ok += 1
    except AuditError as exc:
        print(ok, exc.errno)
        break
"""


def test_write_failure_raises_and_leaves_a_verifiable_log(tmp_path: Path) -> None:
    """A real short write (RLIMIT_FSIZE): AuditError, nothing acknowledged is lost, the
    half-written line is reported as a crash artefact, and appends work again afterwards."""
    import subprocess
    import sys

    p = tmp_path / "a.jsonl"
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(p)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    acked, err = (int(x) for x in out.stdout.split())
    assert 0 < acked < 100 and err != 0
    rep = verify(p)
    assert rep.ok and rep.records == acked and rep.partial_tail
    log = AuditLog(p)  # the limit is gone in this process: the chain continues after the fragment
    r = log.append(rec())
    assert r.seq == acked
    rep = verify(p)
    assert rep.ok and rep.records == acked + 1 and any("crash" in w for w in rep.warnings)


def test_engine_records_every_decision(tmp_path: Path) -> None:
    from airlock.approval import DenyAllApprover
    from airlock.engine import Engine
    from airlock.events import AgentIdentity, BeforeToolEvent
    from airlock.hooks import HookRegistry

    p = tmp_path / "a.jsonl"
    eng = Engine(hooks=HookRegistry(), audit=AuditLog(p), approver=DenyAllApprover())
    agent = AgentIdentity(name="bot", session_id="sess-9")
    d1 = eng.before_tool(BeforeToolEvent(agent=agent, tool_name="read_file", tool_input={"path": "/tmp/readme"}))
    d2 = eng.before_tool(BeforeToolEvent(agent=agent, tool_name="execute_command",
                                         tool_input={"cmd": "echo sk-" + "Z" * 30}))
    got = list(iter_records(p))
    assert [r["decision"] for r in got] == [d1.outcome.value, d2.outcome.value]
    assert d2.outcome.value in ("blocked", "denied")  # nobody to approve a critical tool: recorded anyway
    assert got[1]["agent_name"] == "bot" and got[1]["session_id"] == "sess-9" and got[1]["tool_name"] == "execute_command"
    assert "Z" * 30 not in p.read_text() and verify(p).ok


@pytest.mark.parametrize("value", [
    {f"k{i}": "://a:" * 20_000 for i in range(200)}, ["password=" * 10_000] * 1000,
    {"d": [[[["--token "] * 10_000] * 10] * 10]}, "x" * 50_000_000,
], ids=["many-adversarial-strings", "wide-list", "nested-wide", "50MB"])
def test_adversarial_record_costs_bounded_time(tmp_path: Path, value: object) -> None:
    """Redaction is linear but not free: a per-record character budget keeps one append bounded."""
    import time

    log = AuditLog(tmp_path / "a.jsonl")
    t0 = time.process_time()  # CPU time: a busy machine must not fail this, a blow-up must
    r = log.append(rec({"v": value}))
    assert time.process_time() - t0 < 10.0 and r.seq == 0 and verify(log.path).ok


def _values():  # type: ignore[no-untyped-def]
    from hypothesis import strategies as st

    leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
              | st.text() | st.binary() | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)))
    return st.recursive(leaves, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(
        st.text(max_size=10) | st.integers(), kids, max_size=5) | st.tuples(kids, kids), max_leaves=40)


def test_property_any_value_is_recorded_and_verifies(tmp_path_factory: pytest.TempPathFactory) -> None:
    from hypothesis import given, settings

    p = tmp_path_factory.mktemp("prop") / "a.jsonl"
    log = AuditLog(p)
    written: list[int] = []

    @settings(max_examples=200, deadline=None)
    @given(_values(), _values())
    def check(tool_input: object, extra: object) -> None:
        r = log.append(rec({"v": tool_input}, extra={"x": extra}, reason=str(tool_input)[:100]))
        written.append(r.seq)

    check()
    assert written == list(range(len(written))) and len(written) >= 100
    rep = verify(p)
    assert rep.ok and rep.records == len(written) and not rep.warnings


def test_record_kept_even_if_preparing_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airlock import _audit_format

    def broken(*a: object, **k: object) -> dict:
        raise MemoryError("simulated")

    monkeypatch.setattr(_audit_format, "prepare", broken)
    p = tmp_path / "a.jsonl"
    AuditLog(p).append(rec({"token": "ghp_" + "q" * 36}, decision="blocked", reason="password=hunter22"))
    r = lines(p)[0]
    assert r["decision"] == "blocked" and r["decided_by"] == "policy:r1" and r["tool_name"] == "write_file"
    assert "MemoryError" in r["extra"]["_audit_error"]
    assert "q" * 36 not in p.read_text() and "hunter22" not in p.read_text() and verify(p).ok
