"""The Settings window: General (editable, persisted), Keys (the key store) and Status (read-only).

A thin view: settings live in ``airlock.settings`` (TOML under the XDG config dir), keys in
``airlock.keystore``; the running app applies a saved change through ``AirlockApp.apply_settings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from .general_page import GeneralPage
from .keys_page import CLEAR_AFTER_MS, KeysPage
from .status_page import StatusPage

__all__ = ["SettingsWindow"]


class SettingsWindow(QWidget):
    def __init__(self, app: Any, parent: QWidget | None = None, *, settings_path: Path | None = None,
                 store_factory: Callable[[], Any] | None = None, clear_after_ms: int = CLEAR_AFTER_MS,
                 unit_status: Callable[[], tuple[bool, str]] | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.setObjectName("airlockSettingsWindow")
        self.setWindowTitle("Airlock settings")
        lay = QVBoxLayout(self)
        self.tabs = QTabWidget()
        kw = {"unit_status": unit_status} if unit_status is not None else {}
        self.general = GeneralPage(app, settings_path, **kw)
        self.keys = KeysPage(store_factory, clear_after_ms)
        self.status = StatusPage(app)
        self.tabs.addTab(self.general, "General")
        self.tabs.addTab(self.keys, "Keys")
        self.tabs.addTab(self.status, "Status")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.general.saved.connect(lambda *_: self.status.refresh())
        lay.addWidget(self.tabs)
        self.resize(780, 600)

    def _tab_changed(self, index: int) -> None:
        page = self.tabs.widget(index)
        if page is self.status:
            self.status.refresh()
        elif page is self.keys:
            self.keys.refresh()

    def refresh(self) -> None:
        """Kept for callers of the old status-only window."""
        self.status.refresh()
