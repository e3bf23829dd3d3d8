"""Bridges from agent frameworks to Airlock's decider.

Each bridge is one module with ``install(runtime)`` / ``uninstall()``; importing this
package imports no framework. ``desktop_hooks.connect()`` installs the bridges whose
framework is importable.
"""

from __future__ import annotations

import importlib.util

__all__ = ["available"]


def available() -> list[str]:
    """Names of the bridges whose framework is installed (without importing the framework)."""
    out = []
    if importlib.util.find_spec("praisonaiagents") is not None:
        out.append("praisonai")
    return out
