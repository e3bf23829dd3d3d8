"""A rule the user asked for from a dialog, before the core policy store turns it into a real rule.

The desktop never evaluates rules; it only collects what the user typed and hands it to
``PolicyStore.add_rule`` (see ``app.PolicyRules``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RuleDraft"]


@dataclass(slots=True)
class RuleDraft:
    tool: str
    action: str                   # "allow" | "deny" | "ask"
    args: dict[str, Any] | None = None
    agent: str | None = None
    expires: float | None = None  # unix time; None = permanent
    comment: str = ""
