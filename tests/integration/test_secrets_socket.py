"""``desktop_hooks.get_secret`` end to end: a real server, a real encrypted key store (file
backend, AIRLOCK_MASTER_PASSWORD) in the test's private XDG dirs, real agents (in this process
and in a child process). A key is handed out only after policy or the approver says yes; the
audit log says who got which key (pid from SO_PEERCRED) and never holds the value."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from airlock import _dirs
from airlock import protocol as P
from airlock._approval_queue import ApprovalQueue
from airlock._secret_client import get_secret
from airlock._secret_service import policy_for
from airlock.audit import AuditLog, iter_records
from airlock.engine import Engine
from airlock.events import ApprovalDecision, ApprovalRequest, Scope
from airlock.hooks import HookRegistry
from airlock.keystore import SecretBroker, SecretDenied, open_store
from airlock.policy import PolicyStore
from airlock.server import Server
from tests.integration._server_util import Raw

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
VALUE = "sk-proj-" + "Q7vX2mN9pL4kR8sT1wY6zA3bC5dE0fG7hJ2kL9mN4pQ8rS1t"
OTHER = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"


class Scripted:
    """A real ``Approver`` answering as the test says: approve (with a scope), deny, or hang."""

    def __init__(self) -> None:
        self.mode = "deny"
        self.scope = Scope.ONCE
        self.asked: list[ApprovalRequest] = []
        self.release = threading.Event()

    def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        self.asked.append(request)
        if self.mode == "approve":
            return ApprovalDecision(True, "user", "approved by the test", scope=self.scope)
        if self.mode == "hang":
            self.release.wait(30)
            return ApprovalDecision(True, "user", "far too late")  # must never count
        return ApprovalDecision(False, "user", "denied by the test")


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", "correct horse battery staple")
    store = open_store(prefer="file")
    store.set("OPENAI_API_KEY", VALUE)
    store.set("GITHUB_TOKEN", OTHER)
    audit = AuditLog(_dirs.state_dir() / "audit.jsonl")
    approver = Scripted()
    policy = PolicyStore(_dirs.config_dir() / "policy.toml")
    engine = Engine(hooks=HookRegistry(), audit=audit, approver=approver, policy=policy)
    queue = ApprovalQueue(approver, timeout=1.0)
    server = Server(engine, tmp_path / "run" / "airlock.sock", approver=queue)
    server.secrets = SecretBroker(store, server.approvals, audit=audit, policy=policy_for(engine))
    server.start()
    yield server, approver, audit, store, policy
    approver.release.set()
    server.stop()
    from airlock.redaction import KNOWN

    KNOWN.clear()  # the store registered its values process-wide; later tests must not see them


def _records(audit: AuditLog) -> list[dict]:
    return [r for r in iter_records(audit.path) if r.get("event") == "secret_request"]


def _plain_anywhere(value: str) -> list[str]:
    """Files under the XDG data/config/state dirs holding ``value`` (raw or base64)."""
    needles = [value.encode(), base64.b64encode(value.encode()).rstrip(b"=")]
    hits = []
    for root in (_dirs.data_dir().parent, _dirs.config_dir().parent, _dirs.state_dir().parent):
        for f in root.rglob("*"):
            if f.is_file() and any(n in f.read_bytes() for n in needles):
                hits.append(str(f))
    return hits


def test_key_only_after_approval_and_audit_names_who(env) -> None:
    server, approver, audit, _store, _policy = env
    sock = server.socket_path
    approver.mode = "deny"
    with pytest.raises(SecretDenied, match="denied by the test") as err:
        get_secret("OPENAI_API_KEY", socket_path=sock)
    assert err.value.code == "secret_denied"  # type: ignore[attr-defined]
    assert "OPENAI_API_KEY" in approver.asked[-1].verdict.reason
    assert f"pid {os.getpid()}" in approver.asked[-1].verdict.reason

    approver.mode = "approve"
    assert get_secret("OPENAI_API_KEY", socket_path=sock) == VALUE
    recs = _records(audit)
    assert [r["decision"] for r in recs] == ["denied", "approved"]
    for r in recs:
        assert r["tool_input"] == {"name": "OPENAI_API_KEY"}
        assert r["agent"]["pid"] == os.getpid()  # the kernel's word, not the client's
        assert r["tool_name"] == "airlock.get_secret"
    assert not _plain_anywhere(VALUE), "the key value was written to disk in plain text"


def test_agent_in_another_process_is_named_by_its_pid(env) -> None:
    server, approver, audit, _store, _policy = env
    approver.mode = "approve"
    code = ("import sys\nfrom airlock import desktop_hooks\n"
            "desktop_hooks.connect('child-agent', socket_path=sys.argv[1])\n"
            "v = desktop_hooks.get_secret('GITHUB_TOKEN', timeout=10)\n"
            "print('LEN', len(v), v == sys.argv[2])\n")
    env_vars = {**os.environ, "PYTHONPATH": f"{REPO / 'core'}"}
    p = subprocess.run([sys.executable, "-c", code, str(server.socket_path), OTHER], capture_output=True,
                       text=True, timeout=60, env=env_vars)
    assert p.returncode == 0, p.stderr
    assert f"LEN {len(OTHER)} True" in p.stdout
    (rec,) = [r for r in _records(audit) if r["tool_input"]["name"] == "GITHUB_TOKEN"]
    assert rec["agent_name"] == "child-agent" and rec["decision"] == "approved"
    assert rec["agent"]["pid"] != os.getpid() and rec["agent"]["pid"] > 0
    assert OTHER not in audit.path.read_text()


def test_timeout_denies_and_is_not_remembered(env) -> None:
    server, approver, audit, _store, _policy = env
    approver.mode = "hang"
    t0 = time.monotonic()
    with pytest.raises(SecretDenied) as err:
        get_secret("OPENAI_API_KEY", socket_path=server.socket_path, timeout=0.5)
    assert 0.9 < time.monotonic() - t0 < 5.0  # waited for the approval (1 s), past the 0.5 s first-word timeout
    assert err.value.code == "secret_denied"  # type: ignore[attr-defined]
    approver.release.set()  # the late "yes" arrives now and must change nothing
    time.sleep(0.2)
    approver.mode = "deny"
    with pytest.raises(SecretDenied):
        get_secret("OPENAI_API_KEY", socket_path=server.socket_path)
    assert [r["decision"] for r in _records(audit)] == ["denied", "denied"]
    assert not (_dirs.data_dir() / "keys" / "grants.json").exists()


def test_scopes_session_and_always(env) -> None:
    server, approver, audit, _store, _policy = env
    approver.mode, approver.scope = "approve", Scope.SESSION
    from airlock._client import Client

    c = Client(server.socket_path, agent_name="scoped")
    try:
        assert c.call("get_secret", {"name": "OPENAI_API_KEY"})["value"] == VALUE
        approver.mode = "deny"
        assert c.call("get_secret", {"name": "OPENAI_API_KEY"})["value"] == VALUE  # same session: remembered
    finally:
        c.close()
    with pytest.raises(SecretDenied):  # a new connection is a new session: asked again, denied
        get_secret("OPENAI_API_KEY", socket_path=server.socket_path)
    approver.mode, approver.scope = "approve", Scope.ALWAYS
    assert get_secret("GITHUB_TOKEN", socket_path=server.socket_path) == OTHER
    approver.mode = "deny"
    n = len(approver.asked)
    assert get_secret("GITHUB_TOKEN", socket_path=server.socket_path) == OTHER  # always for this agent name
    assert len(approver.asked) == n
    grants = json.loads((_dirs.data_dir() / "keys" / "grants.json").read_text())
    assert OTHER not in json.dumps(grants) and "GITHUB_TOKEN" in grants["always"]
    assert not _plain_anywhere(OTHER) and not _plain_anywhere(VALUE)


def test_policy_rule_decides_without_asking(env) -> None:
    server, approver, audit, _store, policy = env
    policy.add_rule("airlock.get_secret", "allow", args={"name": "GITHUB_*"}, agent="ci-bot")
    policy.add_rule("airlock.get_secret", "deny", args={"name": "OPENAI_*"})
    from airlock._client import Client

    c = Client(server.socket_path, agent_name="ci-bot")
    try:
        assert c.call("get_secret", {"name": "GITHUB_TOKEN"})["value"] == OTHER
        with pytest.raises(Exception, match="policy blocks"):
            c.call("get_secret", {"name": "OPENAI_API_KEY"})
    finally:
        c.close()
    assert approver.asked == []
    assert [(r["decision"], r["decided_by"]) for r in _records(audit)] == [("allowed", "policy"),
                                                                          ("denied", "policy")]


def test_never_stored_key_and_bad_input_are_clear_errors(env) -> None:
    server, approver, audit, _store, _policy = env
    approver.mode = "approve"
    with pytest.raises(SecretDenied, match="no such key.*NOPE") as err:
        get_secret("NOPE", socket_path=server.socket_path)
    assert err.value.code == "secret_not_found"  # type: ignore[attr-defined]
    assert approver.asked == []  # nothing to ask about
    raw = Raw(server.socket_path)
    try:
        assert raw.call(1, "get_secret", {"name": "X"}).error_code == "hello_required"
        raw.hello("raw")
        for params, code in [({}, "invalid_params"), ({"name": 5}, "invalid_params"),
                             ({"name": "../etc/passwd"}, "invalid_params"), ({"name": "x" * 100_000}, "invalid_params"),
                             ({"name": "ÖL"}, "invalid_params")]:
            r = raw.call(2, "get_secret", params)
            assert not r.ok and r.error_code == code, (params, r)
        assert raw.call(3, "ping").ok  # the connection survived all of it
    finally:
        raw.close()
    with pytest.raises(SecretDenied):
        get_secret("", socket_path=server.socket_path)


def test_no_server_and_locked_store_fail_secure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SecretDenied, match="not running") as err:
        get_secret("OPENAI_API_KEY", socket_path=tmp_path / "nobody.sock", timeout=0.5)
    assert err.value.code == "unavailable"  # type: ignore[attr-defined]
    # the server opens the user's store itself (file backend here); the password is gone by then
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")  # no keyring: the file backend
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", "pw-for-the-test")
    open_store(prefer="file").set("OPENAI_API_KEY", VALUE)
    monkeypatch.delenv("AIRLOCK_MASTER_PASSWORD")
    audit = AuditLog(tmp_path / "audit.jsonl")
    approver = Scripted()
    approver.mode = "approve"
    engine = Engine(hooks=HookRegistry(), audit=audit, approver=approver)
    with Server(engine, tmp_path / "run" / "airlock.sock") as server:
        with pytest.raises(SecretDenied, match="AIRLOCK_MASTER_PASSWORD") as err:
            get_secret("OPENAI_API_KEY", socket_path=server.socket_path)
        assert err.value.code == "secret_denied"  # type: ignore[attr-defined]
        assert server.secrets is not None and "encrypted-file" in server.secrets.store.backend_name
    (rec,) = _records(audit)
    assert rec["decision"] == "denied" and "store error" in rec["reason"]


def test_protocol_lists_the_method() -> None:
    assert "get_secret" in P.METHODS
    for code in ("secret_denied", "secret_not_found", "keystore_unavailable"):
        assert code in P.ERROR_CODES


def test_output_filter_is_opt_in_on_the_server_engine(tmp_path: Path) -> None:
    from airlock._client import Client, RemoteDecider
    from airlock.events import AfterToolEvent
    from airlock.redaction import enable_output_filter

    hooks = HookRegistry()
    engine = Engine(hooks=hooks, audit=AuditLog(tmp_path / "audit.jsonl"), approver=Scripted())
    with Server(engine, tmp_path / "run" / "airlock.sock") as server:
        d = RemoteDecider(Client(server.socket_path, agent_name="out"))
        ev = lambda: AfterToolEvent(tool_name="fetch", tool_input={"url": "https://x"},  # noqa: E731
                                    output=f"<p>hi</p><script>steal('{VALUE}')</script>")
        assert d.after_tool(ev()).allowed  # off by default
        hid = enable_output_filter(registry=engine.hooks)
        blocked = d.after_tool(ev())
        assert not blocked.allowed and "Script tag" in blocked.reason
        # a secret in otherwise safe output reaches the agent masked, over the socket
        masked = d.after_tool(AfterToolEvent(tool_name="fetch", tool_input={}, output={"body": f"token={VALUE}"}))
        assert masked.allowed and masked.output_changed and VALUE not in str(masked.output)
        hooks.remove(hid)
        assert d.after_tool(ev()).allowed
        d.client.close()
    assert VALUE not in (tmp_path / "audit.jsonl").read_text()


def test_output_filter_masks_what_a_guarded_tool_returns(tmp_path: Path) -> None:
    import airlock
    from airlock.redaction import enable_output_filter

    @airlock.guard(name="fetch_page")
    def fetch_page(url: str) -> str:
        return f"config: OPENAI_API_KEY={VALUE}"

    hid = enable_output_filter()
    try:
        out = fetch_page("https://example.com")
    finally:
        airlock.remove_hook(hid)
    assert VALUE not in out and "OPENAI_API_KEY" in out
    assert VALUE in fetch_page("https://example.com")  # the filter is opt-in: off again, untouched


def test_dev_set_secrets_fed_as_tool_input_over_the_socket(env) -> None:
    """The issue's proof on the real path (agent -> socket -> server engine -> audit.jsonl). Secrets
    held in the key store leave nothing (exact-value redaction); for the rest the engine's recall
    bounds what may remain (the unit test test_redact_eval checks the same bound on AuditLog)."""
    from tests.conftest import shared_file

    from airlock._client import Client, RemoteDecider
    from airlock.events import BeforeToolEvent

    server, approver, audit, store, _policy = env
    docs = [json.loads(line) for line in shared_file("data", "secrets", "dev.jsonl").read_text().splitlines()]
    docs = [d for d in docs if d["tier"] == "positive"]
    stored: set[str] = set()
    for i, d in enumerate(docs[::2]):
        for j, s in enumerate(d["spans"]):
            secret = d["text"][s["start"]:s["end"]]
            if len(secret) >= 12:
                store.set(f"DEV_{i}_{j}", secret)
                stored.add(secret)
    approver.mode = "deny"
    decider = RemoteDecider(Client(server.socket_path, agent_name="feeder"))
    try:
        for d in docs:
            decider.before_tool(BeforeToolEvent(tool_name="shell", tool_input={"cmd": d["text"]}))
    finally:
        decider.client.close()
    text = audit.path.read_text("utf-8")
    written = [r["tool_input"]["cmd"] for r in iter_records(audit.path) if r.get("tool_name") == "shell"]
    assert len(written) == len(docs)
    total = leaked = stored_leaked = 0
    for d in docs:
        for s in d["spans"]:
            secret = d["text"][s["start"]:s["end"]]
            if len(secret) < 12:
                continue
            total += 1
            if secret in text:
                leaked += 1
                stored_leaked += secret in stored
    print(f"dev positives: {len(docs)} docs, {total} secrets >= 12 chars, {len(stored)} in the key store; "
          f"left in audit.jsonl: {leaked} (of them stored: {stored_leaked})")
    assert stored and stored_leaked == 0
    assert total > 300 and leaked <= 0.05 * (total - len(stored)), (leaked, total)


def test_default_broker_on_the_real_keyring(tmp_path: Path) -> None:
    """The server's own broker (``Server(secrets=None)``) over the OS keyring, as the tray runs it.
    Needs ../shared/desktop-env.sh (gnome-keyring); skips otherwise."""
    from tests.desktop.test_keyring_real import _secret_service_or_skip

    _secret_service_or_skip()
    store = open_store(prefer="keyring")
    name = f"AIRLOCK_TEST_{os.getpid()}"
    store.set(name, VALUE)
    approver = Scripted()
    approver.mode = "approve"
    audit = AuditLog(tmp_path / "audit.jsonl")
    engine = Engine(hooks=HookRegistry(), audit=audit, approver=approver)
    try:
        with Server(engine, tmp_path / "run" / "airlock.sock") as server:
            assert get_secret(name, socket_path=server.socket_path) == VALUE
            assert server.secrets.store.backend_name.startswith("keyring")
        (rec,) = _records(audit)
        assert rec["decision"] == "approved" and rec["agent"]["pid"] == os.getpid()
        assert VALUE not in audit.path.read_text() and not _plain_anywhere(VALUE)
    finally:
        store.delete(name)
        from airlock.redaction import KNOWN

        KNOWN.clear()
