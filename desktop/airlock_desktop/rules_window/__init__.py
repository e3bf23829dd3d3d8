"""List, search, add and delete policy rules through the core ``PolicyStore``."""

from .window import RulesWindow

__all__ = ["RulesWindow"]
