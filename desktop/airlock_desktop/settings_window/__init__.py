"""The Settings window: general settings, the key store, and the status page."""

from .window import SettingsWindow

__all__ = ["SettingsWindow"]
