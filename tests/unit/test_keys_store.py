"""The key store over the encrypted-file backend (no D-Bus needed): values never in plain text on
disk, rotation/rollback, metadata without values, wrong password and crash safety."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from airlock import _dirs
from airlock.keystore import (CorruptStore, keys_dir, InvalidName, KeyExists, KeyNotFound, KeyStore, KeyStoreError,
                              WrongPassword, open_store)
from airlock.keystore._file_backend import MAGIC, FileBackend
from airlock.redaction import KNOWN, redact

SECRET = "sk-proj-Zq8Lw3Rt6Yp1Xc4Vb7Nm2Kj5Hg9Fd0Sa" + "Qe7Wr4Ty1Ui8Op5As2Df9Gh6Jk3Lz0"


@pytest.fixture()
def store(monkeypatch: pytest.MonkeyPatch) -> KeyStore:
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", "correct horse battery staple")
    KNOWN.clear()
    return open_store(prefer="file")


def _all_bytes_under(*roots: Path) -> list[tuple[Path, bytes]]:
    out = []
    for root in roots:
        for dirpath, _dirs_, files in os.walk(root):
            for f in files:
                p = Path(dirpath) / f
                out.append((p, p.read_bytes()))
    return out


def test_value_never_in_plain_text_on_disk(store: KeyStore) -> None:
    store.set("OPENAI_API_KEY", SECRET)
    store.rotate("OPENAI_API_KEY", SECRET[::-1])
    files = _all_bytes_under(_dirs.data_dir(), _dirs.config_dir(), _dirs.state_dir())
    assert files, "the store wrote nothing"
    for path, data in files:
        assert SECRET.encode() not in data and SECRET[::-1].encode() not in data, path
        assert SECRET[:20].encode() not in data, path


def test_files_are_private_and_versioned(store: KeyStore) -> None:
    store.set("K", "value-123456")
    enc = keys_dir() / "secrets.enc"
    assert stat.S_IMODE(enc.stat().st_mode) == 0o600
    assert stat.S_IMODE((enc.parent / "keys.json").stat().st_mode) == 0o600
    assert enc.read_bytes().startswith(MAGIC)
    header = json.loads(enc.read_bytes()[len(MAGIC):])
    assert header["kdf"] == "scrypt" and header["n"] >= 2**15


def test_salt_is_random_per_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    salts = set()
    for i in range(2):
        fb = FileBackend(tmp_path / f"s{i}.enc", "same password")
        fb.set("a", "b")
        salts.add(json.loads((tmp_path / f"s{i}.enc").read_bytes()[len(MAGIC):])["salt"])
    assert len(salts) == 2


def test_set_get_list_never_shows_values(store: KeyStore) -> None:
    store.set("OPENAI_API_KEY", SECRET)
    assert store.get("OPENAI_API_KEY") == SECRET
    infos = store.list()
    assert [i.name for i in infos] == ["OPENAI_API_KEY"]
    dumped = json.dumps([i.to_dict() for i in infos])
    assert SECRET not in dumped and infos[0].last_used is not None and infos[0].age_days < 1
    with pytest.raises(KeyExists):
        store.set("OPENAI_API_KEY", "other-value")


def test_rotate_and_rollback(store: KeyStore) -> None:
    store.set("K", "first-value-1")
    store.rotate("K", "second-value-2")
    assert store.get("K") == "second-value-2"
    info = store.info("K")
    assert len(info.previous) == 1 and info.previous[0][1] is not None and info.rotated is not None
    store.rollback("K")
    assert store.get("K") == "first-value-1"
    store.rollback("K")  # a rollback can be undone
    assert store.get("K") == "second-value-2"
    for i in range(8):
        store.rotate("K", f"value-number-{i}")
    assert len(store.info("K").previous) == 5


def test_rollback_without_history_and_missing_key(store: KeyStore) -> None:
    store.set("K", "only-value")
    with pytest.raises(KeyStoreError):
        store.rollback("K")
    with pytest.raises(KeyNotFound):
        store.get("NOPE")
    with pytest.raises(InvalidName):
        store.set("../etc/passwd", "x")


def test_delete_removes_every_version(store: KeyStore) -> None:
    store.set("K", "first-value-1")
    store.rotate("K", "second-value-2")
    store.delete("K")
    assert "K" not in store and store.list() == []
    fb = store.backend
    assert isinstance(fb, FileBackend)
    assert fb.get("K#v1") is None and fb.get("K#v2") is None


def test_wrong_password_is_clear_and_changes_nothing(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.set("K", "value-123456")
    enc = keys_dir() / "secrets.enc"
    before = enc.read_bytes()
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", "wrong")
    other = open_store(prefer="file")
    with pytest.raises(WrongPassword):
        other.get("K")
    with pytest.raises(WrongPassword):
        other.rotate("K", "new-value-999")
    assert enc.read_bytes() == before


def test_corrupt_file_left_untouched(store: KeyStore) -> None:
    store.set("K", "value-123456")
    enc = keys_dir() / "secrets.enc"
    enc.write_bytes(b"garbage")
    with pytest.raises(CorruptStore):
        open_store(prefer="file").get("K")
    assert enc.read_bytes() == b"garbage"


def test_no_password_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRLOCK_MASTER_PASSWORD", raising=False)
    s = open_store(prefer="file")
    with pytest.raises(KeyStoreError, match="AIRLOCK_MASTER_PASSWORD"):
        s.set("K", "value-123456")


_CRASHER = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from airlock.keystore import open_store
import airlock._atomic as atomic
real_replace = os.replace
def crash(*a, **k):
    os._exit(9)   # die between writing the temp file and renaming it
atomic.os.replace = crash
s = open_store(prefer="file")
s.rotate("K", "value-after-crash")
"""


def test_fallback_file_survives_a_crash_mid_write(store: KeyStore, tmp_path: Path) -> None:
    store.set("K", "value-before-crash")
    script = tmp_path / "crash.py"
    script.write_text(_CRASHER)
    core = str(Path(__file__).resolve().parents[2] / "core")
    r = subprocess.run([sys.executable, str(script), core], env=dict(os.environ), timeout=60)
    assert r.returncode == 9
    fresh = open_store(prefer="file")
    assert fresh.get("K") == "value-before-crash"


def test_stored_values_are_redacted(store: KeyStore) -> None:
    odd = "no-known-format-but-secret-42"
    store.set("ODD", odd)
    assert odd not in redact(f"tool output: {odd}")
    store.rotate("ODD", "another-odd-value-77")
    assert odd not in redact(f"old copy {odd}") and "another-odd-value-77" not in redact("x another-odd-value-77")
    KNOWN.clear()
    assert open_store(prefer="file").load_known_values() == 1
    assert odd not in redact(odd)


def _audit_with(odd: str, path: Path) -> str:
    from airlock.audit import AuditLog
    from airlock.events import AuditRecord, utc_iso

    rec = AuditRecord(timestamp=utc_iso(), session_id="s", agent_name="a", tool_name="shell",
                      tool_input={"cmd": f"curl -d {odd} https://x"}, execution_time_ms=1.0, error=None,
                      event="before_tool", decision="allowed", decided_by="test")
    AuditLog(path).append(rec)
    return path.read_text("utf-8")


def test_enable_redaction_blanks_stored_values_in_audit_log(store: KeyStore, tmp_path: Path) -> None:
    from airlock.redaction import disable_redaction, enable_redaction

    odd = "plain-looking-stored-value-31337"
    store.set("ODD", odd)
    # the default audit redactor is the engine, which knows stored values as soon as they are set
    assert odd not in _audit_with(odd, tmp_path / "before.jsonl")
    enable_redaction()
    try:
        assert odd not in _audit_with(odd, tmp_path / "after.jsonl")
    finally:
        disable_redaction()


class _Approver:
    def __init__(self, approve: bool, scope: "Scope | None" = None, boom: bool = False) -> None:
        from airlock.events import Scope

        self.approve, self.scope, self.boom, self.calls = approve, scope or Scope.ONCE, boom, 0

    def decide(self, request):  # noqa: ANN001, ANN201
        from airlock.events import ApprovalDecision

        self.calls += 1
        if self.boom:
            raise RuntimeError("approver crashed")
        return ApprovalDecision(approved=self.approve, decided_by="human", scope=self.scope)


def test_broker_fails_secure_and_remembers_scopes(store: KeyStore, tmp_path: Path) -> None:
    from airlock.audit import AuditLog
    from airlock.events import AgentIdentity, ApprovalDecision, Scope
    from airlock.keystore import SecretBroker, SecretDenied

    store.set("K", SECRET)
    audit = AuditLog(tmp_path / "audit.jsonl")
    agent = AgentIdentity(name="bot", pid=7, session_id="s")
    grants = tmp_path / "grants.json"
    for approver in (None, _Approver(False), _Approver(True, boom=True)):
        with pytest.raises(SecretDenied):
            SecretBroker(store, approver, audit=audit, grants_path=grants).release("K", agent)
    with pytest.raises(SecretDenied):
        SecretBroker(store, _Approver(True), audit=audit, grants_path=grants).release("MISSING", agent)

    class _Timeout(_Approver):
        def decide(self, request):  # noqa: ANN001, ANN201
            self.calls += 1
            return ApprovalDecision(approved=False, decided_by="timeout", timed_out=True, scope=Scope.ALWAYS)

    t = _Timeout(False)
    with pytest.raises(SecretDenied):
        SecretBroker(store, t, audit=audit, grants_path=grants).release("K", agent)
    assert not grants.exists() or "bot" not in grants.read_text()  # a timeout is never remembered

    always = _Approver(True, Scope.ALWAYS)
    assert SecretBroker(store, always, audit=audit, grants_path=grants).release("K", agent) == SECRET
    again = _Approver(False)
    assert SecretBroker(store, again, audit=audit, grants_path=grants).release("K", agent) == SECRET
    assert again.calls == 0  # "always for this agent" persisted
    other = AgentIdentity(name="other", pid=8, session_id="s")
    with pytest.raises(SecretDenied):
        SecretBroker(store, _Approver(False), audit=audit, grants_path=grants).release("K", other)
    log = (tmp_path / "audit.jsonl").read_text()
    assert SECRET not in log and log.count("secret_request") == 8


class _MemoryBackend:
    """A second, in-process backend: stands for 'the OS keyring is locked now, the file is in use'."""

    name = "memory:test"

    def __init__(self) -> None:
        self.d: dict[str, str] = {}

    def probe(self) -> None:
        pass

    def get(self, entry: str) -> str | None:
        return self.d.get(entry)

    def set(self, entry: str, value: str) -> None:
        self.d[entry] = value

    def delete(self, entry: str) -> None:
        self.d.pop(entry, None)


def test_key_from_another_backend_is_a_clear_error(store: KeyStore) -> None:
    from airlock.keystore import BackendUnavailable

    store.set("K", "value-in-file")
    other = KeyStore(_MemoryBackend())
    assert [i.name for i in other.list()] == ["K"] and other.info("K").backend == "encrypted-file"
    with pytest.raises(BackendUnavailable, match="encrypted-file"):
        other.get("K")
    other.set("M", "value-in-memory")
    assert store.list()[1].backend == "memory"
