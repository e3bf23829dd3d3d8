"""``airlock tray``: start the desktop app (tray icon, approval popups, audit and rules windows).

The core's ``airlock`` command finds this through the ``airlock.cli`` entry point, so the core
never names the desktop package. PySide6 is imported only inside the command: every other
command works on machines without Qt, and here its absence is a clear error, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("tray", help="start the Airlock desktop app (tray icon, approvals, audit log)")
    p.add_argument("--socket", default=None, help="socket path (default: $XDG_RUNTIME_DIR/airlock/airlock.sock)")
    p.add_argument("--audit", default=None, help="audit log path")
    p.add_argument("--policy", default=None, help="policy file path")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds before an unanswered approval is denied (default 60)")
    p.add_argument("--window", action="store_true", help="a small window instead of the system tray icon")
    p.add_argument("--no-server", action="store_true", help="watch a running `airlock serve` instead of hosting one")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        import PySide6  # noqa: F401

        from . import app
    except ImportError as exc:
        print(f"airlock tray: the desktop app is not available ({exc}).\n"
              "Install it with: pip install 'PySide6-Essentials==6.11.3' and the airlock_desktop package "
              "(see packaging/airlock-setup.sh). Agents keep failing secure meanwhile.", file=sys.stderr)
        return 4
    argv: list[str] = []
    for name in ("socket", "audit", "policy", "timeout"):
        value = getattr(args, name)
        if value is not None:
            argv += [f"--{name}", str(value)]
    if args.window:
        argv.append("--window")
    if args.no_server:
        argv.append("--no-server")
    return int(app.main(argv))
