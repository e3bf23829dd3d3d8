"""Desktop tests: offscreen Qt unless a real display is asked for (desktop-env.sh sets DISPLAY)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install PySide6-Essentials==6.11.3)")

# Widget tests run offscreen; the real-desktop tests set QT_QPA_PLATFORM=xcb themselves in a subprocess.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
