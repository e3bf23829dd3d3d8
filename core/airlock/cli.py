"""The ``airlock`` command. Each area registers its own subcommands from a ``_cli_*`` module."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Sequence

# Each module exposes ``register(subparsers)``; subcommands set ``func(args) -> int``.
_AREAS = ("_cli_server", "_cli_audit", "_cli_rules", "_cli_eval", "_cli_doctor", "_cli_keys", "_cli_redact")
# Other installed packages (the desktop app's ``tray``) add areas through this entry-point group,
# so the core never imports them by name.
_PLUGIN_GROUP = "airlock.cli"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airlock", description="A firewall between AI agents and their tools.")
    parser.add_argument("--version", action="version", version="airlock " + _version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in _AREAS:
        importlib.import_module(f"airlock.{area}").register(sub)
    _register_plugins(sub)
    return parser


def _register_plugins(sub: Any) -> None:
    from importlib.metadata import entry_points

    names = set()
    for ep in entry_points(group=_PLUGIN_GROUP):
        try:
            ep.load()(sub)
            names.add(ep.name)
        except Exception as exc:  # a broken add-on must not take the security CLI down with it
            print(f"airlock: the {ep.name!r} command is unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
    if "tray" not in names:
        p = sub.add_parser("tray", help="start the Airlock desktop app (not installed here)")
        p.set_defaults(func=_no_desktop)


def _no_desktop(args: argparse.Namespace) -> int:
    print("airlock tray: the desktop app is not installed. Install it with "
          "`pip install -e '.[desktop]'` (the pinned Qt bindings), or run "
          "bash packaging/airlock-setup.sh start. Agents keep failing secure meanwhile.", file=sys.stderr)
    return 4


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
