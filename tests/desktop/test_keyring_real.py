"""The key store against a real Secret Service (gnome-keyring from ../shared/desktop-env.sh).

Run under the desktop env::

    eval "$(bash ../shared/desktop-env.sh start)"
    PYTHONPATH=core:desktop .venv/bin/python -m pytest tests/desktop/test_keyring_real.py -q

Skips (with the reason) when no session bus or no Secret Service is reachable. Also proves the
fallback: with no D-Bus at all, ``open_store()`` lands on the encrypted file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from airlock import _dirs
from airlock.events import AgentIdentity, ApprovalDecision, Scope
from airlock.keystore import KeyStore, SecretBroker, SecretDenied, open_store
from airlock.keystore._keyring_backend import KeyringBackend


def _secret_service_or_skip() -> None:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        pytest.skip("no DBUS_SESSION_BUS_ADDRESS: run under ../shared/desktop-env.sh")
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        with open_dbus_connection(bus="SESSION") as conn:
            bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                              interface="org.freedesktop.DBus")
            reply = conn.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", ("org.freedesktop.secrets",)),
                                            timeout=5)
            if not reply.body[0]:
                pytest.skip("session bus has no org.freedesktop.secrets (gnome-keyring not running)")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"session bus not reachable: {exc}")


@pytest.fixture()
def real_store() -> KeyStore:
    _secret_service_or_skip()
    kb = KeyringBackend(service=f"airlock-test-{uuid.uuid4().hex[:8]}")
    kb.probe()
    store = KeyStore(kb)
    yield store
    for info in store.list():
        store.delete(info.name)


def test_backend_is_secret_service() -> None:
    _secret_service_or_skip()
    s = open_store()
    assert "SecretService" in s.backend_name, s.backend_name


def test_real_keyring_roundtrip_rotate_rollback(real_store: KeyStore) -> None:
    secret = "sk-proj-" + uuid.uuid4().hex + uuid.uuid4().hex
    real_store.set("OPENAI_API_KEY", secret)
    assert real_store.get("OPENAI_API_KEY") == secret
    real_store.rotate("OPENAI_API_KEY", secret + "-v2")
    assert real_store.get("OPENAI_API_KEY") == secret + "-v2"
    real_store.rollback("OPENAI_API_KEY")
    assert real_store.get("OPENAI_API_KEY") == secret
    # nothing under the data/config/state dirs holds the value in clear
    for root in (_dirs.data_dir(), _dirs.config_dir(), _dirs.state_dir()):
        for dirpath, _d, files in os.walk(root):
            for f in files:
                assert secret.encode() not in (Path(dirpath) / f).read_bytes(), f
    # the value really lives in the Secret Service
    import keyring

    entry = f"OPENAI_API_KEY#v1"
    assert keyring.get_password(real_store.backend.service, entry) == secret  # type: ignore[attr-defined]
    real_store.delete("OPENAI_API_KEY")
    assert keyring.get_password(real_store.backend.service, entry) is None  # type: ignore[attr-defined]


class _Approver:
    def __init__(self, approve: bool, scope: Scope = Scope.ONCE) -> None:
        self.approve, self.scope, self.asked = approve, scope, []

    def decide(self, request):  # noqa: ANN001, ANN201
        self.asked.append(request.verdict.reason)
        return ApprovalDecision(approved=self.approve, decided_by="test-human", scope=self.scope)


def test_agent_gets_key_only_after_approval(real_store: KeyStore, tmp_path: Path) -> None:
    from airlock.audit import AuditLog

    real_store.set("OPENAI_API_KEY", "sk-agent-secret-" + uuid.uuid4().hex)
    audit = AuditLog(tmp_path / "audit.jsonl")
    agent = AgentIdentity(name="researcher", pid=4242, session_id="s1")
    no = _Approver(False)
    with pytest.raises(SecretDenied):
        SecretBroker(real_store, no, audit=audit, grants_path=tmp_path / "g.json").release("OPENAI_API_KEY", agent)
    assert "researcher" in no.asked[0] and "4242" in no.asked[0] and "OPENAI_API_KEY" in no.asked[0]
    yes = _Approver(True, Scope.SESSION)
    broker = SecretBroker(real_store, yes, audit=audit, grants_path=tmp_path / "g.json")
    value = broker.release("OPENAI_API_KEY", agent)
    assert value == real_store.get("OPENAI_API_KEY")
    broker.release("OPENAI_API_KEY", agent)  # remembered for the session: not asked again
    assert len(yes.asked) == 1
    log = (tmp_path / "audit.jsonl").read_text()
    assert value not in log and log.count("OPENAI_API_KEY") >= 3 and "researcher" in log


_NO_DBUS = r"""
import sys
sys.path.insert(0, sys.argv[1])
from airlock.keystore import open_store
s = open_store()
s.set("K", "fallback-value-123456")
print(s.backend_name)
print(open_store().get("K"))
"""


def test_without_dbus_falls_back_to_encrypted_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path}/no-bus"
    env["AIRLOCK_MASTER_PASSWORD"] = "pw-for-test"
    script = tmp_path / "nodbus.py"
    script.write_text(_NO_DBUS)
    r = subprocess.run([sys.executable, str(script), str(Path(__file__).resolve().parents[2] / "core")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    backend, value = r.stdout.split("\n")[:2]
    assert backend.startswith("encrypted-file:") and value == "fallback-value-123456"
    enc = Path(backend.split(":", 1)[1])
    assert b"fallback-value-123456" not in enc.read_bytes()
