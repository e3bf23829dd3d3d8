"""``airlock audit verify|tail|search``: check and read the audit log from a terminal or a script.

Exit codes (all three commands): 0 = fine, 2 = usage error or no log where asked.
``verify`` also: 1 = tampered (the first bad record is named: file, line, seq, what happened).
A line cut short by a crash is reported with a WARNING and still exits 0: the head file proves
no acknowledged record is missing (see ``audit_verify``); ``--json`` shows it as ``partial_tail``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import audit_read
from ._audit_files import default_path

_HELP = """Check and read the tamper-evident audit log ($XDG_STATE_HOME/airlock/audit.jsonl).

exit codes: 0 fine; 1 verify found tampering (it names the file, line, seq and what:
edited / deleted / reordered / truncated / inserted); 2 usage error or no log.
A last line cut short by a crash is reported as a WARNING (a crash artefact, not
tampering: the head file proves no acknowledged record is missing) and exits 0;
with --json it shows as "partial_tail": true."""

_DECISIONS = ("allowed", "blocked", "approved", "denied", "timeout")


def _path(args: argparse.Namespace) -> Path:
    return Path(args.path) if getattr(args, "path", None) else default_path()


def _emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _line(rec: dict[str, Any]) -> str:
    """One human line per record: when, seq, decision, agent, tool/event, by whom, why."""
    tool = rec.get("tool_name") or rec.get("event") or "?"
    threat = rec.get("threat_level")
    parts = [str(rec.get("timestamp", "?")), f"#{rec.get('seq')}", f"{str(rec.get('decision', '?')).upper():8}",
             f"{rec.get('agent_name') or '?'}", f"{tool}", f"by {rec.get('decided_by') or '?'}"]
    if threat and threat != "LOW":
        parts.append(f"threat={threat}")
    if rec.get("auto_approved"):
        parts.append("AUTO-APPROVED")
    reason = str(rec.get("reason") or rec.get("error") or "")
    if reason:
        parts.append("- " + reason[:200].replace("\n", " "))
    return "  ".join(parts)


def _print_records(recs: Any, as_json: bool) -> int:
    n = 0
    for rec in recs:
        if as_json:
            _emit_json(rec)
        else:
            sys.stdout.write(_line(rec) + "\n")
        sys.stdout.flush()
        n += 1
    return n


# ----------------------------------------------------------------- verify
def cmd_verify(args: argparse.Namespace) -> int:
    from .audit_verify import verify

    p = _path(args)
    try:
        rep = verify(p)
    except FileNotFoundError:
        if args.json:
            _emit_json({"ok": False, "error": "no audit log", "path": str(p)})
        print(f"airlock audit verify: no audit log at {p}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"airlock audit verify: cannot read {p}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        _emit_json(rep.to_dict())
    elif rep.ok:
        span = f"seq {rep.first_seq}..{rep.last_seq}" if rep.last_seq is not None else "no records yet"
        print(f"intact: {rep.records} records ({span}) in {len(rep.files)} file(s)")
    else:
        print(f"TAMPERED: {rep.problem}")
        print(f"  file: {rep.bad_file}  line: {rep.first_bad}  seq: {rep.bad_seq}  what: {rep.kind}")
        print(f"  {rep.records} records verified intact before it")
    if not args.json:
        for w in rep.warnings:
            print(f"WARNING: {w}", file=sys.stderr)
    return 0 if rep.ok else 1


# ----------------------------------------------------------------- tail
def cmd_tail(args: argparse.Namespace) -> int:
    p = _path(args)
    if args.n < 0:
        print("airlock audit tail: -n must be >= 0", file=sys.stderr)
        return 2
    if not args.follow:
        if not p.exists() and not any(p.parent.glob(p.name + ".[0-9]*")):
            print(f"airlock audit tail: no audit log at {p}", file=sys.stderr)
            return 2
        _print_records(audit_read.tail(p, args.n), args.json)
        return 0
    _print_records(audit_read.follow(p, n=args.n, poll=args.poll), args.json)
    return 0


# ----------------------------------------------------------------- search
def cmd_search(args: argparse.Namespace) -> int:
    p = _path(args)
    since = None
    if args.since:
        try:
            since = audit_read.parse_since(args.since)
        except ValueError as exc:
            print(f"airlock audit search: {exc}", file=sys.stderr)
            return 2
    if not p.exists() and not any(p.parent.glob(p.name + ".[0-9]*")):
        print(f"airlock audit search: no audit log at {p}", file=sys.stderr)
        return 2
    found = audit_read.search(args.query or "", p, decisions=args.decision or (), tools=args.tool or (),
                              agents=args.agent or (), since=since, limit=args.limit)
    n = _print_records(found, args.json)
    if not args.json:
        print(f"{n} record(s)", file=sys.stderr)
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("audit", help="verify, tail and search the tamper-evident audit log",
                       description=_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    asub = p.add_subparsers(dest="audit_command", metavar="{verify,tail,search}")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    v = asub.add_parser("verify", help="check the hash chain; exit 0 intact, 1 tampered, 2 no log/usage")
    v.add_argument("path", nargs="?", help="log file (default: $XDG_STATE_HOME/airlock/audit.jsonl)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=cmd_verify)

    t = asub.add_parser("tail", help="show the last records (-f: keep following)")
    t.add_argument("-n", type=int, default=10, help="how many records (default 10)")
    t.add_argument("-f", "--follow", action="store_true", help="keep printing new records (Ctrl-C stops)")
    t.add_argument("--json", action="store_true", help="one JSON record per line")
    t.add_argument("--path", help="log file (default: $XDG_STATE_HOME/airlock/audit.jsonl)")
    t.add_argument("--poll", type=float, default=0.25, help=argparse.SUPPRESS)
    t.set_defaults(func=cmd_tail)

    s = asub.add_parser("search", help="records containing QUERY (case-insensitive), with filters")
    s.add_argument("query", nargs="?", default="", metavar="QUERY", help="text to look for in any value")
    s.add_argument("--decision", action="append", choices=_DECISIONS, help="only this decision (repeatable)")
    s.add_argument("--tool", action="append", metavar="GLOB", help="only tools matching GLOB (repeatable)")
    s.add_argument("--agent", action="append", metavar="GLOB", help="only agents matching GLOB (repeatable)")
    s.add_argument("--since", metavar="WHEN", help="only records since WHEN: 30m, 2h, 7d or an ISO-8601 time")
    s.add_argument("--limit", type=int, default=None, help="stop after this many matches")
    s.add_argument("--json", action="store_true", help="one JSON record per line")
    s.add_argument("--path", help="log file (default: $XDG_STATE_HOME/airlock/audit.jsonl)")
    s.set_defaults(func=cmd_search)
