"""The sandbox's two refusals: the code broke a rule, or the boundary cannot be set up."""

from __future__ import annotations

__all__ = ["SandboxViolation", "SandboxUnavailable"]


class SandboxViolation(Exception):
    """Layer 1 refused the code before it ran; ``rule`` and ``line`` say why and where."""

    def __init__(self, rule: str, detail: str, line: int | None = None) -> None:
        self.rule = rule
        self.detail = detail
        self.line = line
        where = f" (line {line})" if line else ""
        super().__init__(f"sandbox violation [{rule}]{where}: {detail}")


class SandboxUnavailable(RuntimeError):
    """Layer 2 (the OS boundary) cannot be set up here, so nothing runs (fail closed)."""

    def __init__(self, layer: str, reason: str, fix: str = "") -> None:
        self.layer = layer
        self.reason = reason
        self.fix = fix
        msg = f"sandbox unavailable: {layer}: {reason}"
        if fix:
            msg += f" (fix: {fix})"
        super().__init__(msg)
