"""``airlock serve`` (the headless daemon) and ``airlock status``.

Exit codes:
  serve:  0 stopped cleanly (SIGTERM/SIGINT), 1 could not start, 3 another server already runs.
  status: 0 running, 3 not running (like ``systemctl is-active``), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_RUNNING = 0, 1, 2, 3


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the Airlock server without the tray app (servers, CI, SSH)",
                       description="Run the Airlock socket server in the foreground. Approvals: a prompt on this "
                                   "terminal when there is one, else every call that needs a human is denied.")
    p.add_argument("--socket", help="socket path (default $XDG_RUNTIME_DIR/airlock/airlock.sock)")
    p.add_argument("--audit", help="audit log path (default $XDG_STATE_HOME/airlock/audit.jsonl)")
    p.add_argument("--policy", help="policy file (default $XDG_CONFIG_HOME/airlock/policy.toml)")
    p.add_argument("--block-at", default="critical", choices=("medium", "high", "critical"),
                   help="injection level that blocks outright (default critical)")
    p.add_argument("--approval-timeout", type=float, default=60.0, help="seconds a human has to answer")
    p.add_argument("--deny-all", action="store_true", help="never ask, deny everything that needs approval")
    p.add_argument("--filter-output", action="store_true",
                   help="opt in to the output filter: an after_tool hook that masks secrets in tool output and "
                        "blocks output with <script>/<iframe>/javascript: URLs")
    p.add_argument("--json", action="store_true", help="print the start line as JSON")
    p.set_defaults(func=cmd_serve)

    s = sub.add_parser("status", help="is the Airlock server running? agents, pending approvals")
    s.add_argument("--socket", help="socket path (default $XDG_RUNTIME_DIR/airlock/airlock.sock)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for an answer")
    s.set_defaults(func=cmd_status)


def _approver(args: argparse.Namespace) -> Any:
    from .approval import AutoApprover, DenyAllApprover, TerminalApprover, auto_approve_enabled

    if args.deny_all:
        return DenyAllApprover("airlock serve --deny-all")
    if auto_approve_enabled():
        return AutoApprover()
    if TerminalApprover.available():
        return TerminalApprover(timeout=args.approval_timeout)
    return DenyAllApprover("no terminal to ask on (airlock serve without a TTY) and the Airlock app is not running")


def cmd_serve(args: argparse.Namespace) -> int:
    from ._runtime import runtime
    from .security import enable_security
    from .server import AlreadyRunning, Server

    try:
        enable_security(audit_path=args.audit, policy_path=args.policy, block_at=args.block_at)
        server = Server(runtime.engine, Path(args.socket) if args.socket else None, _approver(args),
                        approval_timeout=args.approval_timeout)
        if args.filter_output:
            from .redaction import enable_output_filter

            enable_output_filter(registry=runtime.engine.hooks)
        server.start()
    except AlreadyRunning as exc:
        print(f"airlock serve: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except Exception as exc:
        print(f"airlock serve: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    old = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    info = {"socket": str(server.socket_path), "pid": server.status()["pid"],
            "approver": type(server.approvals.inner).__name__, "audit": str(getattr(runtime.engine.audit, "path", ""))}
    if args.json:
        print(json.dumps({"event": "listening", **info}), flush=True)
    else:
        print(f"Airlock listening on {info['socket']} (pid {info['pid']}, approvals: {info['approver']}, "
              f"audit: {info['audit']}). Ctrl-C or SIGTERM stops it.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        audit = runtime.engine.audit
        if audit is not None and hasattr(audit, "close"):
            audit.close()
    print("Airlock stopped.", file=sys.stderr, flush=True)
    return EXIT_OK


def _fmt_age(ts: float | None) -> str:
    if not ts:
        return "?"
    s = max(0, int(time.time() - ts))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def cmd_status(args: argparse.Namespace) -> int:
    from .server import default_socket_path, probe

    path = Path(args.socket) if args.socket else default_socket_path()
    info = probe(path, timeout=args.timeout)
    if info is None:
        if args.json:
            print(json.dumps({"running": False, "socket": str(path)}))
        else:
            print(f"Airlock is not running (nothing answers on {path}).")
            print("Start it with `airlock serve` (headless) or the Airlock tray app.")
        return EXIT_NOT_RUNNING
    if args.json:
        print(json.dumps({**info, "running": True}, ensure_ascii=False))
        return EXIT_OK
    agents, pending = info.get("agents", []), info.get("pending", [])
    print(f"Airlock is running: pid {info.get('pid')}, socket {info.get('socket')}, "
          f"up {_fmt_age(info.get('started'))}, approvals by {info.get('approver')}")
    print(f"Connected agents: {len(agents)}")
    for a in agents:
        print(f"  {a.get('name')!s:24} pid {a.get('pid')!s:>7}  {a.get('requests', 0)} requests  "
              f"session {a.get('session_id')}  {str(a.get('exe') or '')[:60]}")
    print(f"Pending approvals: {len(pending)}")
    for p in pending:
        print(f"  {p.get('request_id', '')[:8]}  {p.get('agent', {}).get('name')} (pid {p.get('agent', {}).get('pid')}) "
              f"wants {p.get('what')!r}  risk {p.get('risk')}  waiting {p.get('waiting_s')} s  - {p.get('reason')}")
    return EXIT_OK
