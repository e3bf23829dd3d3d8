"""One-line switches: ``enable_security()`` and its parts, as in the reference design."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ._runtime import runtime
from .threat import ThreatLevel

__all__ = [
    "enable_security",
    "enable_injection_defense",
    "enable_audit_log",
    "enable_policy",
    "disable_security",
    "security_status",
]


def enable_injection_defense(*, block_at: ThreatLevel | str | int = ThreatLevel.CRITICAL,
                             extra_patterns: Iterable[str | re.Pattern[str]] = ()) -> None:
    """Scan every prompt, tool input and tool output. ``block_at``: the level that blocks outright."""
    from .injection import Scanner

    scanner = Scanner(block_at=ThreatLevel.parse(block_at), extra_patterns=tuple(extra_patterns))
    with runtime.lock:
        runtime.engine.scanner = scanner
        runtime.refresh()


def enable_audit_log(path: str | Path | None = None) -> Path:
    """Record every decision to a hash-chained JSONL file (default ``$XDG_STATE_HOME/airlock/audit.jsonl``)."""
    from .audit import AuditLog

    log = AuditLog(path)
    with runtime.lock:
        runtime.engine.audit = log
        runtime.refresh()
    return Path(log.path)


def enable_policy(path: str | Path | None = None) -> None:
    """Apply the user's rules from the policy file (default ``$XDG_CONFIG_HOME/airlock/policy.toml``)."""
    from .policy import PolicyStore

    store = PolicyStore(path)
    with runtime.lock:
        runtime.engine.policy = store
        runtime.refresh()


def enable_monitoring(*, state_path: str | Path | None = None, pause_on_alert: bool = False) -> None:
    """Rate limits (from the policy's ``[limits]``) and per-agent anomaly alerts into the audit log.

    Baselines persist in ``$XDG_STATE_HOME/airlock/monitor.json``; ``pause_on_alert`` makes every
    later call of an alerting agent need approval until it is resumed.
    """
    from . import _dirs
    from .monitor import Monitor

    monitor = Monitor(state_path=state_path if state_path is not None else _dirs.state_dir() / "monitor.json",
                      pause_on_alert=pause_on_alert)
    with runtime.lock:
        runtime.engine.monitor = monitor
        runtime.refresh()


def enable_security(*, audit_path: str | Path | None = None, policy_path: str | Path | None = None,
                    block_at: ThreatLevel | str | int = ThreatLevel.CRITICAL) -> None:
    """Injection defense, audit log, the tool policy and monitoring, globally, in one call."""
    enable_injection_defense(block_at=block_at)
    enable_audit_log(audit_path)
    enable_policy(policy_path)
    enable_monitoring()


def disable_security() -> None:
    """Turn the in-process layers off. Hooks you added stay; approval for risky tools stays."""
    with runtime.lock:
        runtime.engine.scanner = None
        runtime.engine.audit = None
        runtime.engine.policy = None
        if runtime.engine.monitor is not None:
            runtime.engine.monitor.save()
        runtime.engine.monitor = None
        runtime.refresh()


def security_status() -> dict[str, bool]:
    e = runtime.engine
    return {
        "injection_defense": e.scanner is not None,
        "audit_log": e.audit is not None,
        "policy": e.policy is not None,
        "monitoring": e.monitor is not None,
        "remote": runtime.remote is not None,
        "hooks": len(e.hooks) > 0,
    }
