"""``airlock rules list|add|remove|check``: the user's policy rules from the command line."""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any

from .policy import PolicyError, PolicyStore, RISK_MATRIX, load_policy

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90``, ``15m``, ``2h``, ``7d`` -> seconds."""
    m = _DURATION.match(text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (examples: 90s, 15m, 2h, 7d)")
    return float(m.group(1)) * _UNIT[m.group(2)]


def _arg_pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=GLOB, got {text!r}")
    name, pattern = text.split("=", 1)
    return name.strip(), pattern


def register(sub: Any) -> None:
    p = sub.add_parser("rules", help="list, add and remove policy rules")
    p.add_argument("--policy", metavar="PATH", help="policy file (default: $XDG_CONFIG_HOME/airlock/policy.toml)")
    rs = p.add_subparsers(dest="rules_command", metavar="ACTION")

    ls = rs.add_parser("list", help="show rules (expired ones marked) and the risk matrix")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    add = rs.add_parser("add", help="add a rule")
    add.add_argument("tool", help="tool name or glob, e.g. execute_command or 'mcp_*'")
    add.add_argument("action", choices=["allow", "ask", "deny"])
    add.add_argument("--arg", dest="args", action="append", type=_arg_pair, default=[], metavar="NAME=GLOB",
                     help="only when argument NAME matches GLOB (repeatable)")
    add.add_argument("--agent", help="only for this agent name (glob)")
    add.add_argument("--for", dest="expires_in", type=parse_duration, metavar="DURATION",
                     help="expire after this long (e.g. 30m, 8h, 7d)")
    add.add_argument("--comment", default="")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=_add)

    rm = rs.add_parser("remove", help="remove a rule by id")
    rm.add_argument("id")
    rm.add_argument("--json", action="store_true")
    rm.set_defaults(func=_remove)

    chk = rs.add_parser("check", help="validate the policy file (exit 1 names the bad line)")
    chk.add_argument("--json", action="store_true")
    chk.set_defaults(func=_check)
    p.set_defaults(func=_list, json=False)


def _store(args: argparse.Namespace) -> PolicyStore:
    return PolicyStore(args.policy)


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    policy = store.current
    now = time.time()
    if getattr(args, "json", False):
        print(json.dumps({
            "path": str(store.path),
            "error": str(store.error) if store.error else None,
            "fallback": policy.fallback,
            "rules": [dict(r.to_dict(), expired=r.expired(now)) for r in policy.rules],
            "risk": {k: v.name.lower() for k, v in {**RISK_MATRIX, **policy.risk}.items()},
            "protected_paths": list(policy.protected_paths),
        }, indent=2))
        return 1 if store.error else 0
    print(f"policy: {store.path}")
    if store.error:
        print(f"ERROR: {store.error}\n       (the last good policy is in force)")
    if not policy.rules:
        print("no rules (the risk matrix decides: critical and high tools need approval)")
    for r in policy.rules:
        state = " [expired]" if r.expired(now) else ""
        note = f"  # {r.comment}" if r.comment else ""
        print(f"  {r.id:<12} {r.describe()}{state}{note}")
    if policy.risk:
        print("risk overrides: " + ", ".join(f"{k}={v.name.lower()}" for k, v in policy.risk.items()))
    return 1 if store.error else 0


def _add(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        rule = store.add_rule(args.tool, args.action, args=dict(args.args), agent=args.agent,
                              expires_in=args.expires_in, comment=args.comment)
    except PolicyError as exc:
        print(f"airlock: cannot add the rule: {exc}")
        return 1
    if args.json:
        print(json.dumps(rule.to_dict()))
    else:
        print(f"added {rule.id}: {rule.describe()}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        removed = store.remove_rule(args.id)
    except PolicyError as exc:
        print(f"airlock: cannot edit the policy: {exc}")
        return 1
    if args.json:
        print(json.dumps({"removed": removed, "id": args.id}))
    elif removed:
        print(f"removed {args.id}")
    else:
        print(f"no rule with id {args.id!r}")
    return 0 if removed else 1


def _check(args: argparse.Namespace) -> int:
    path = args.policy
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        print(json.dumps({"ok": False, "error": str(exc), "line": exc.line}) if args.json else f"invalid: {exc}")
        return 1
    msg = {"ok": True, "rules": len(policy.rules), "path": policy.source}
    print(json.dumps(msg) if args.json else f"ok: {policy.source} ({len(policy.rules)} rules)")
    return 0
