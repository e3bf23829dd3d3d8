"""``verify``: every kind of tampering is caught and named; crash artefacts are not called tampering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airlock.audit import AuditLog, canonical, verify
from airlock.events import AuditRecord


def rec(i: int, **kw: object) -> AuditRecord:
    base: dict = dict(timestamp=f"2026-01-01T00:00:{i % 60:02d}Z", session_id="s", agent_name="agent",
                      tool_name="write_file", tool_input={"i": i, "path": f"/tmp/{i}"}, execution_time_ms=None,
                      error=None, event="before_tool", decision="allowed", decided_by="policy:r1")
    base.update(kw)
    return AuditRecord(**base)  # type: ignore[arg-type]


@pytest.fixture
def log10(tmp_path: Path) -> Path:
    p = tmp_path / "audit.jsonl"
    log = AuditLog(p)
    for i in range(10):
        log.append(rec(i))
    log.close()
    assert verify(p).ok
    return p


def read(p: Path) -> list[bytes]:
    return p.read_bytes().splitlines(keepends=True)


def write(p: Path, lines: list[bytes]) -> None:
    p.write_bytes(b"".join(lines))


def rehash(line: bytes, **changes: object) -> bytes:
    """What a careful forger does: change fields and recompute this record's own hash."""
    r = json.loads(line)
    r.update(changes)
    r.pop("hash")
    c = canonical(r)
    return (c[:-1] + ',"hash":"' + hashlib.sha256(c.encode()).hexdigest() + '"}\n').encode()


def check_bad(p: Path, kind: str, line: int | None = None, seq: int | None = None) -> None:
    rep = verify(p)
    assert not rep.ok, rep
    assert rep.kind == kind, rep.problem
    if line is not None:
        assert rep.first_bad == line, rep.problem
    if seq is not None:
        assert rep.bad_seq == seq, rep.problem
    assert rep.bad_file == str(p) or Path(rep.bad_file or "").parent == p.parent
    assert kind in rep.problem


def test_intact(log10: Path) -> None:
    rep = verify(log10)
    assert rep.ok and rep.records == 10 and (rep.first_seq, rep.last_seq) == (0, 9)
    assert not rep.warnings and not rep.partial_tail and rep.kind == ""


def test_missing_log_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        verify(tmp_path / "nope.jsonl")


def test_empty_log_ok(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    AuditLog(p).close()
    rep = verify(p)
    assert rep.ok and rep.records == 0 and rep.last_seq is None


def test_edited_value(log10: Path) -> None:
    lines = read(log10)
    lines[4] = lines[4].replace(b'"allowed"', b'"blocked"')
    write(log10, lines)
    check_bad(log10, "edited", line=5, seq=4)


def test_edited_and_rehashed_breaks_next_link(log10: Path) -> None:
    lines = read(log10)
    lines[3] = rehash(lines[3], decision="denied")
    write(log10, lines)
    check_bad(log10, "edited", line=5, seq=4)


def test_last_record_rehashed_caught_by_head(log10: Path) -> None:
    lines = read(log10)
    lines[-1] = rehash(lines[-1], reason="nothing to see")
    write(log10, lines)
    check_bad(log10, "edited", line=10, seq=9)


def test_duplicate_key_smuggling(log10: Path) -> None:
    """A second key that some parsers would read instead of the hashed one."""
    lines = read(log10)
    lines[2] = b'{"decision":"denied",' + lines[2][1:]
    write(log10, lines)
    check_bad(log10, "edited", line=3, seq=2)


def test_reformatted_line_is_still_intact(log10: Path) -> None:
    """Same JSON, other spacing/key order (a tool rewrote it): no data changed."""
    lines = read(log10)
    lines[5] = (json.dumps(json.loads(lines[5]), indent=None, separators=(", ", ": ")) + "\n").encode()
    write(log10, lines)
    assert verify(log10).ok


def test_deleted_middle(log10: Path) -> None:
    lines = read(log10)
    del lines[3:5]
    write(log10, lines)
    check_bad(log10, "deleted", line=4, seq=5)
    assert "2 records, seq 3..4" in verify(log10).problem


def test_deleted_first(log10: Path) -> None:
    write(log10, read(log10)[1:])
    check_bad(log10, "deleted", line=1, seq=1)


def test_swapped(log10: Path) -> None:
    lines = read(log10)
    lines[2], lines[3] = lines[3], lines[2]
    write(log10, lines)
    check_bad(log10, "reordered", line=3, seq=3)


def test_moved_to_end(log10: Path) -> None:
    lines = read(log10)
    lines.append(lines.pop(1))
    write(log10, lines)
    check_bad(log10, "reordered", line=2, seq=2)


def test_duplicated(log10: Path) -> None:
    lines = read(log10)
    lines.insert(5, lines[4])
    write(log10, lines)
    check_bad(log10, "reordered", line=6, seq=4)


def test_truncated_whole_records(log10: Path) -> None:
    write(log10, read(log10)[:7])
    check_bad(log10, "truncated", line=8, seq=7)
    assert "3 record(s)" in verify(log10).problem


def test_truncated_mid_line_by_hand(log10: Path) -> None:
    """Half of an acknowledged record cut off: the head file names it, so this is truncation."""
    data = log10.read_bytes()
    log10.write_bytes(data[: len(data) - 40])
    check_bad(log10, "truncated", line=10, seq=9)


def test_emptied(log10: Path) -> None:
    log10.write_bytes(b"")
    check_bad(log10, "truncated", line=1, seq=0)


def test_inserted_garbage_line(log10: Path) -> None:
    lines = read(log10)
    lines.insert(3, b'{"note": "all fine here"}\n')
    write(log10, lines)
    check_bad(log10, "edited", line=4)


def test_inserted_empty_line(log10: Path) -> None:
    lines = read(log10)
    lines.insert(6, b"\n")
    write(log10, lines)
    check_bad(log10, "edited", line=7)


def test_record_damaged_into_fragment(log10: Path) -> None:
    """A record cut in half in the middle of the log is not a crash: the chain misses its seq."""
    lines = read(log10)
    lines[4] = lines[4][:50] + b"\n"
    write(log10, lines)
    check_bad(log10, "edited", line=5, seq=4)


def test_appended_by_hand(log10: Path) -> None:
    lines = read(log10)
    extra1 = rehash(lines[-1], seq=10, prev_hash=json.loads(lines[-1])["hash"], reason="forged")
    extra2 = rehash(extra1, seq=11, prev_hash=json.loads(extra1)["hash"])
    write(log10, lines + [extra1, extra2])
    check_bad(log10, "inserted", line=11, seq=10)


# ----------------------------------------------------------------- crash artefacts
def test_partial_last_line_is_a_crash_artefact(log10: Path) -> None:
    """What a crash mid-write leaves: bytes of the next record, no newline, head not advanced."""
    with open(log10, "ab") as f:
        f.write(b'{"agent":{},"agent_name":"agent","auto_approved":false,"call_id":"","deci')
    rep = verify(log10)
    assert rep.ok and rep.partial_tail and rep.records == 10
    assert "crash" in rep.problem and "not tampering" in rep.problem


def test_fragment_followed_by_more_records(log10: Path) -> None:
    with open(log10, "ab") as f:
        f.write(b'{"agent":{},"agent_name":"agent","auto_app')
    log = AuditLog(log10)
    assert log.append(rec(10)).seq == 10  # the next writer chains on from the last whole record
    log.append(rec(11))
    rep = verify(log10)
    assert rep.ok and rep.records == 12 and not rep.partial_tail
    assert any("fragment" in w and "crash" in w for w in rep.warnings)
    assert len(read(log10)) == 13  # the fragment got its own line; no record was glued onto it


def test_head_file_removed_is_a_warning(log10: Path) -> None:
    (log10.parent / "audit.jsonl.head").unlink()
    rep = verify(log10)
    assert rep.ok and any("no head file" in w for w in rep.warnings)


def test_head_file_garbage_is_a_warning(log10: Path) -> None:
    (log10.parent / "audit.jsonl.head").write_bytes(b"\x00\xffnot json")
    rep = verify(log10)
    assert rep.ok and any("unreadable" in w for w in rep.warnings)


# ----------------------------------------------------------------- across rotated files
@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    p = tmp_path / "audit.jsonl"
    log = AuditLog(p, max_bytes=3000, backups=100)
    for i in range(60):
        log.append(rec(i))
    log.close()
    assert len(list(tmp_path.glob("audit.jsonl.[0-9]*"))) >= 4
    rep = verify(p)
    assert rep.ok and rep.records == 60 and rep.first_seq == 0
    return p


def backups(p: Path) -> list[Path]:
    return sorted(p.parent.glob(p.name + ".[0-9]*"), key=lambda f: -int(f.name.rsplit(".", 1)[1]))


def test_rotated_edit_names_the_backup(rotated: Path) -> None:
    f = backups(rotated)[1]
    lines = read(f)
    seq = json.loads(lines[1])["seq"]
    lines[1] = lines[1].replace(b'"allowed"', b'"approved"')
    write(f, lines)
    rep = verify(rotated)
    assert not rep.ok and rep.kind == "edited" and rep.bad_file == str(f) and rep.first_bad == 2
    assert rep.bad_seq == seq and f.name in rep.problem


def test_rotated_middle_file_deleted(rotated: Path) -> None:
    f = backups(rotated)[2]
    first_missing = json.loads(read(f)[0])["seq"]
    f.unlink()
    rep = verify(rotated)
    assert not rep.ok and rep.kind == "deleted" and f"seq {first_missing}.." in rep.problem


def test_rotated_oldest_file_deleted(rotated: Path) -> None:
    backups(rotated)[0].unlink()
    rep = verify(rotated)
    assert not rep.ok and rep.kind == "deleted" and "head file" in rep.problem


def test_rotated_files_swapped(rotated: Path) -> None:
    b = backups(rotated)
    tmp = b[1].with_name("swap")
    b[1].rename(tmp)
    b[2].rename(b[1])
    tmp.rename(b[2])
    rep = verify(rotated)
    assert not rep.ok and rep.kind == "reordered"


def test_live_file_truncated_after_rotation(rotated: Path) -> None:
    rotated.write_bytes(b"")
    rep = verify(rotated)
    assert not rep.ok and rep.kind == "truncated"


def _hammer(path: str, n: int) -> None:
    log = AuditLog(path, max_bytes=6000, backups=1000)
    for i in range(n):
        log.append(rec(i))


@pytest.mark.timeout(120)
def test_verify_while_writers_append_and_rotate(tmp_path: Path) -> None:
    """Verifying a live log (the server appending, rotation happening) never reports a false break."""
    import multiprocessing as mp

    p = tmp_path / "audit.jsonl"
    AuditLog(p).append(rec(0))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(p), 250)) for _ in range(2)]
    for pr in procs:
        pr.start()
    checks = 0
    while any(pr.is_alive() for pr in procs) or checks == 0:
        rep = verify(p)
        assert rep.ok, rep.problem
        checks += 1
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    rep = verify(p)
    assert rep.ok and rep.records == 501 and not rep.warnings and checks >= 2
