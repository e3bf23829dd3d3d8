"""The ``airlock`` command. Each area registers its own subcommands from a ``_cli_*`` module."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# Each module exposes ``register(subparsers)``; subcommands set ``func(args) -> int``.
_AREAS = ("_cli_server", "_cli_audit", "_cli_rules", "_cli_eval", "_cli_doctor", "_cli_tray", "_cli_keys", "_cli_redact")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airlock", description="A firewall between AI agents and their tools.")
    parser.add_argument("--version", action="version", version="airlock " + _version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in _AREAS:
        importlib.import_module(f"airlock.{area}").register(sub)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
