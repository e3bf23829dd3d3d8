"""Airlock's guarded built-in tools, as plain functions and as PraisonAI tools.

Risk levels are the reference's approval matrix: ``execute_command``, ``kill_process`` and
``execute_code`` are CRITICAL; ``write_file``, ``apply_diff``, ``copy_file``, ``move_file`` and
``delete_file`` HIGH (both need approval); ``download_file`` MEDIUM; ``read_file`` and
``list_files`` NONE (but a secret-bearing path is asked). Protected paths are refused on every
write, copy, move and delete, by the engine and again by the tool itself.

PraisonAI takes plain typed, documented functions as tools: ``Agent(tools=praisonai_tools(),
approval=airlock.integrations.praisonai.AirlockApprovalBackend())`` (without an approval backend,
PraisonAI's default safety preset hard-denies tools named ``execute_code`` & co. in
non-interactive sessions before Airlock is asked).
"""

from __future__ import annotations

from typing import Any, Callable

from ._files import (
    ALLOWED_SCHEMES,
    apply_diff,
    copy_file,
    delete_file,
    download_file,
    list_files,
    move_file,
    read_file,
    write_file,
)
from ._proc import execute_code, execute_command, kill_process

__all__ = ["execute_command", "kill_process", "execute_code", "write_file", "apply_diff", "copy_file",
           "move_file", "delete_file", "download_file", "read_file", "list_files", "ALL_TOOLS",
           "ALLOWED_SCHEMES", "praisonai_tools"]

ALL_TOOLS: tuple[Callable[..., Any], ...] = (
    execute_command, kill_process, execute_code, write_file, apply_diff, copy_file, move_file,
    delete_file, download_file, read_file, list_files,
)


def praisonai_tools(*names: str) -> list[Callable[..., Any]]:
    """The guarded tools (all, or those named) for ``praisonaiagents.Agent(tools=...)``."""
    if not names:
        return list(ALL_TOOLS)
    by_name = {t.airlock_tool_name: t for t in ALL_TOOLS}  # type: ignore[attr-defined]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise KeyError(f"unknown Airlock tool(s): {', '.join(unknown)} (have: {', '.join(sorted(by_name))})")
    return [by_name[n] for n in names]
