"""Airlock's prompt-injection defense: normalize, detect, grade.

``scan_text(text)`` grades one text; ``Scanner.scan_value(tool_input)`` every
string inside a structure. Detectors are pluggable (``register_detector``); the
built-in ones are heuristic and linear-time, a learned one can join them.
"""

from __future__ import annotations

from .normalize import Decoded, Views, normalize
from .scanner import (
    Scanner,
    configure,
    default_scanner,
    register_detector,
    scan_text,
    unregister_detector,
)

__all__ = [
    "scan_text",
    "Scanner",
    "normalize",
    "Views",
    "Decoded",
    "register_detector",
    "unregister_detector",
    "default_scanner",
    "configure",
]
