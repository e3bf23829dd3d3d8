"""A read-only status page (the editable settings and key UI belong to issue 5)."""

from .window import SettingsWindow

__all__ = ["SettingsWindow"]
