"""Airlock: a firewall between AI agents and their tools.

The public API is what ``__all__`` names. Heavy parts (the injection scanner, the audit
writer, the policy parser) load on first use, so ``import airlock`` stays cheap and works
without Qt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .approval import Approver, AutoApprover, DenyAllApprover, TerminalApprover
from .engine import Decider, Engine, ToolBlocked
from .events import (
    Action,
    AfterToolEvent,
    AgentIdentity,
    ApprovalDecision,
    ApprovalRequest,
    AuditRecord,
    BeforeAgentEvent,
    BeforeToolEvent,
    Decision,
    EventKind,
    Outcome,
    RiskLevel,
    Scope,
    Verdict,
)
from .hooks import HookResult, add_hook, remove_hook
from .threat import Finding, ScanResult, Severity, ThreatLevel

__version__ = "0.1.0"

__all__ = [
    # switches
    "enable_security", "enable_injection_defense", "enable_audit_log", "enable_policy", "enable_monitoring",
    "rate_limit",
    "disable_security", "security_status",
    # tools and hooks
    "guard", "require_approval", "ToolBlocked", "add_hook", "remove_hook", "HookResult",
    # injection defense
    "scan_text", "ScanResult", "Finding", "Severity", "ThreatLevel",
    # protected paths
    "is_protected", "protection_reason",
    # secrets: redaction engine and output filter
    "find_secrets", "redact", "filter_output", "validate_output_safety", "enable_output_filter", "SecretDenied",
    # the code sandbox
    "SandboxViolation", "SandboxUnavailable",
    # approvers
    "Approver", "DenyAllApprover", "TerminalApprover", "AutoApprover",
    # the event schema
    "EventKind", "RiskLevel", "Action", "Outcome", "Scope", "AgentIdentity",
    "BeforeAgentEvent", "BeforeToolEvent", "AfterToolEvent", "Verdict",
    "ApprovalRequest", "ApprovalDecision", "Decision", "AuditRecord",
    "Engine", "Decider",
    "__version__",
]

# name -> (module, attribute): loaded on first access (PEP 562)
_LAZY = {
    "enable_security": (".security", "enable_security"),
    "enable_injection_defense": (".security", "enable_injection_defense"),
    "enable_audit_log": (".security", "enable_audit_log"),
    "enable_policy": (".security", "enable_policy"),
    "enable_monitoring": (".security", "enable_monitoring"),
    "rate_limit": (".monitor.ratelimit", "rate_limit"),
    "disable_security": (".security", "disable_security"),
    "security_status": (".security", "security_status"),
    "guard": ("._guard", "guard"),
    "require_approval": ("._guard", "require_approval"),
    "scan_text": (".injection", "scan_text"),
    "is_protected": (".paths", "is_protected"),
    "protection_reason": (".paths", "protection_reason"),
    "find_secrets": (".redaction", "find_secrets"),
    "redact": (".redaction", "redact"),
    "filter_output": (".redaction._output", "filter_output"),
    "validate_output_safety": (".redaction._output", "validate_output_safety"),
    "enable_output_filter": (".redaction._output", "enable_output_filter"),
    "SecretDenied": (".keystore._broker", "SecretDenied"),
    "SandboxViolation": (".sandbox", "SandboxViolation"),
    "SandboxUnavailable": (".sandbox", "SandboxUnavailable"),
}

if TYPE_CHECKING:
    from ._guard import guard, require_approval
    from .injection import scan_text
    from .paths import is_protected, protection_reason
    from .security import (
        disable_security,
        enable_audit_log,
        enable_injection_defense,
        enable_policy,
        enable_security,
        security_status,
    )


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'airlock' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
