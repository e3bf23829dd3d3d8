"""The audit log browser (model / state / window, split like Anki's browser)."""

from .window import AuditWindow

__all__ = ["AuditWindow"]
