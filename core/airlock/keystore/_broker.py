"""Hand keys to agents under control: policy or a human decides, the audit log records who got
which key (never the value).

``SecretBroker.release(name, agent)`` is what the server calls for ``desktop_hooks.get_secret``.
Decisions: a ``policy`` callable may answer ALLOW/BLOCK outright; otherwise the approver is asked
("agent X, pid N, asks for OPENAI_API_KEY") and its scope is remembered: ONCE (not remembered),
SESSION (this agent session), ALWAYS (this agent name, persisted). Any error, timeout or missing
approver denies, and a timeout is never remembered.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable

from ..approval import Approver, DenyAllApprover
from ..events import (Action, AgentIdentity, ApprovalRequest, AuditRecord, BeforeToolEvent, Outcome, RiskLevel,
                      Scope, Verdict, utc_iso)
from .._atomic import write_private
from ._errors import KeyNotFound, KeyStoreError
from ._store import KeyStore, check_name, keys_dir

TOOL_NAME = "airlock.get_secret"
PolicyFn = Callable[[str, AgentIdentity], "Action | None"]


class SecretDenied(KeyStoreError):
    """The agent may not have this key (denied, timed out, no approver, or no such key)."""


class SecretBroker:
    def __init__(self, store: KeyStore, approver: Approver | None = None, *, audit: Any = None,
                 policy: PolicyFn | None = None, grants_path: Path | None = None) -> None:
        self.store = store
        self.approver = approver or DenyAllApprover()
        self.audit = audit
        self.policy = policy
        self._grants_path = grants_path or keys_dir() / "grants.json"
        self._session: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- persistent "always" grants
    def _always(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self._grants_path.read_text("utf-8"))
            return {str(k): [str(a) for a in v] for k, v in data.get("always", {}).items()}
        except (FileNotFoundError, ValueError, AttributeError, TypeError):
            return {}

    def _save_always(self, grants: dict[str, list[str]]) -> None:
        write_private(self._grants_path, json.dumps({"always": grants}, indent=1).encode())

    def revoke(self, name: str, agent_name: str | None = None) -> None:
        with self._lock:
            grants = self._always()
            if agent_name is None:
                grants.pop(name, None)
            elif agent_name in grants.get(name, []):
                grants[name].remove(agent_name)
            self._save_always(grants)
            self._session = {g for g in self._session if g[2] != name or (agent_name and g[0] != agent_name)}

    # ---------------------------------------------------------------- the decision
    def _decide(self, name: str, agent: AgentIdentity) -> tuple[bool, str, str, Scope]:
        if name in self._always() and agent.name in self._always()[name]:
            return True, "grant:always", "remembered: always for this agent", Scope.ALWAYS
        if (agent.name, agent.session_id, name) in self._session:
            return True, "grant:session", "remembered: this session", Scope.SESSION
        if self.policy is not None:
            try:
                act = self.policy(name, agent)
            except Exception as exc:  # noqa: BLE001 - fail secure
                return False, "policy", f"policy error: {type(exc).__name__}", Scope.ONCE
            if act == Action.ALLOW:
                return True, "policy", "policy allows", Scope.ONCE
            if act == Action.BLOCK:
                return False, "policy", "policy blocks", Scope.ONCE
        event = BeforeToolEvent(tool_name=TOOL_NAME, tool_input={"name": name}, agent=agent, risk=RiskLevel.HIGH)
        verdict = Verdict(action=Action.ASK, reason=f"agent {agent.name}, pid {agent.pid}, asks for {name}",
                          decided_by="secret_request", risk=RiskLevel.HIGH)
        try:
            d = self.approver.decide(ApprovalRequest(event=event, verdict=verdict))
        except Exception as exc:  # noqa: BLE001 - an approver crash is a denial
            return False, "approver", f"approver failed: {type(exc).__name__}", Scope.ONCE
        if d.timed_out or not d.approved:
            return False, d.decided_by, d.reason or ("timed out" if d.timed_out else "denied"), Scope.ONCE
        if d.scope == Scope.ALWAYS:
            with self._lock:
                grants = self._always()
                grants.setdefault(name, [])
                if agent.name not in grants[name]:
                    grants[name].append(agent.name)
                self._save_always(grants)
        elif d.scope in (Scope.SESSION, Scope.HOUR):
            self._session.add((agent.name, agent.session_id, name))
        return True, d.decided_by, d.reason or "approved", d.scope

    def release(self, name: str, agent: AgentIdentity) -> str:
        """The value of ``name`` for ``agent``, or SecretDenied. Always writes one audit record."""
        check_name(name)
        if name not in self.store:
            self._record(name, agent, Outcome.DENIED, "broker", "no such key")
            raise SecretDenied(f"no key named {name!r}")
        ok, by, why, scope = self._decide(name, agent)
        if not ok:
            self._record(name, agent, Outcome.DENIED, by, why)
            raise SecretDenied(f"{agent.name} may not read {name!r}: {why}")
        try:
            value = self.store.get(name)
        except (KeyNotFound, KeyStoreError) as exc:
            self._record(name, agent, Outcome.DENIED, "broker", f"store error: {exc}")
            raise SecretDenied(str(exc)) from exc
        self._record(name, agent, Outcome.APPROVED if by not in ("policy",) else Outcome.ALLOWED, by,
                     f"{why} (scope {scope.value})")
        return value

    def _record(self, name: str, agent: AgentIdentity, outcome: Outcome, by: str, reason: str) -> None:
        if self.audit is None:
            return
        rec = AuditRecord(timestamp=utc_iso(), session_id=agent.session_id, agent_name=agent.name,
                          tool_name=TOOL_NAME, tool_input={"name": name}, execution_time_ms=None, error=None,
                          event="secret_request", decision=outcome.value, decided_by=by, reason=reason,
                          risk="high", agent=agent.to_dict())
        self.audit.append(rec)
