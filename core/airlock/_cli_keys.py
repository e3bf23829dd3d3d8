"""``airlock keys``: list, set, get, rotate, rollback, delete keys and show the backend.

Values never come from argv (``set``/``rotate`` read stdin or a hidden prompt) and are printed
only by ``get --reveal``. Exit codes: 0 ok, 1 error, 3 no such key/exists, 4 backend locked/wrong
password.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="API keys: OS keyring or encrypted file", description=__doc__)
    p.add_argument("--backend", choices=("auto", "keyring", "file"), default="auto",
                   help="where values live (default: OS keyring, else the encrypted file)")
    ks = p.add_subparsers(dest="keys_cmd", metavar="ACTION")

    def add(name: str, help: str, func: Any, key: bool = True, json_out: bool = True) -> argparse.ArgumentParser:
        q = ks.add_parser(name, help=help)
        if key:
            q.add_argument("name", help="key name, e.g. OPENAI_API_KEY")
        if json_out:
            q.add_argument("--json", action="store_true", help="machine-readable output")
        q.set_defaults(func=func)
        return q

    add("list", "names, age, last use (never values)", _list, key=False)
    add("backend", "which backend holds the values", _backend, key=False)
    q = add("set", "store a key (value from stdin or a hidden prompt)", _set)
    q.add_argument("--replace", action="store_true", help="replace an existing key (old value kept for rollback)")
    q = add("get", "show a key's metadata; --reveal prints the value", _get)
    q.add_argument("--reveal", action="store_true", help="print the value itself to stdout")
    add("rotate", "replace the value, keep the old one dated for rollback", _rotate)
    add("rollback", "restore the previous value", _rollback)
    q = add("delete", "remove a key and its kept versions", _delete)
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _store(args: argparse.Namespace) -> Any:
    from .keystore import open_store
    from .keystore._file_backend import ENV_PASSWORD, env_password

    def prompt() -> str | None:
        pw = env_password()
        if pw:
            return pw
        if sys.stdin.isatty():
            return getpass.getpass("Airlock master password (encrypted key file): ") or None
        print(f"airlock: the encrypted key file needs {ENV_PASSWORD} (no terminal to ask)", file=sys.stderr)
        return None

    return open_store(prefer=args.backend, password=prompt)


def _run(args: argparse.Namespace, body: Any) -> int:
    from .keystore import (BackendUnavailable, CorruptStore, InvalidName, KeyExists, KeyNotFound, KeyStoreError,
                           WrongPassword)

    try:
        return int(body(_store(args)) or 0)
    except (KeyNotFound, KeyExists) as exc:
        return _fail(args, str(exc), 3)
    except (WrongPassword, BackendUnavailable) as exc:
        return _fail(args, str(exc), 4)
    except (InvalidName, CorruptStore, KeyStoreError) as exc:
        return _fail(args, str(exc), 1)


def _fail(args: argparse.Namespace, msg: str, code: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": msg}))
    else:
        print(f"airlock keys: {msg}", file=sys.stderr)
    return code


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    d = (time.time() - ts) / 86400
    return f"{d:.0f}d ago" if d >= 1 else f"{d * 24:.0f}h ago"


def _read_value(name: str) -> str:
    from .keystore import KeyStoreError

    if sys.stdin.isatty():
        v = getpass.getpass(f"value for {name} (hidden): ")
        if v != getpass.getpass("again: "):
            raise KeyStoreError("the two entries differ; nothing stored")
    else:
        v = sys.stdin.read()
        v = v[:-1] if v.endswith("\n") else v
        v = v[:-1] if v.endswith("\r") else v
    if not v:
        raise KeyStoreError("empty value; nothing stored")
    return v


def _list(args: argparse.Namespace) -> int:
    def body(store: Any) -> int:
        infos = store.list()
        if args.json:
            print(json.dumps({"backend": store.backend_name, "keys": [i.to_dict() for i in infos]}))
            return 0
        print(f"backend: {store.backend_name}")
        if not infos:
            print("no keys stored")
        for i in infos:
            warn = "  OLDER THAN 90 DAYS: rotate it" if i.stale else ""
            print(f"{i.name:<32} age {i.age_days:6.1f}d  last used {_ago(i.last_used):<10} "
                  f"versions kept {len(i.previous)}{warn}")
        return 0
    return _run(args, body)


def _backend(args: argparse.Namespace) -> int:
    def body(store: Any) -> int:
        print(json.dumps({"backend": store.backend_name}) if args.json else store.backend_name)
        return 0
    return _run(args, body)


def _set(args: argparse.Namespace) -> int:
    def body(store: Any) -> int:
        from .keystore import check_name

        check_name(args.name)
        info = store.set(args.name, _read_value(args.name), replace=args.replace)
        _ok(args, f"stored {args.name} in {store.backend_name}", info)
        return 0
    return _run(args, body)


def _get(args: argparse.Namespace) -> int:
    def body(store: Any) -> int:
        info = store.info(args.name)
        if args.reveal:
            value = store.get(args.name)
            if args.json:
                print(json.dumps({"ok": True, "key": info.to_dict(), "value": value}))
            else:
                sys.stdout.write(value + "\n")
            return 0
        _ok(args, f"{args.name}: ******** (use --reveal to print)  age {info.age_days:.1f}d  "
                  f"last used {_ago(info.last_used)}", info)
        return 0
    return _run(args, body)


def _rotate(args: argparse.Namespace) -> int:
    def body(store: Any) -> int:
        store.info(args.name)
        info = store.rotate(args.name, _read_value(args.name))
        _ok(args, f"rotated {args.name}; the previous value is kept for rollback", info)
        return 0
    return _run(args, body)


def _rollback(args: argparse.Namespace) -> int:
    def body(store: Any) -> int:
        info = store.rollback(args.name)
        _ok(args, f"rolled {args.name} back to its previous value", info)
        return 0
    return _run(args, body)


def _delete(args: argparse.Namespace) -> int:
    def body(store: Any) -> int:
        store.info(args.name)
        if not args.yes:
            if not sys.stdin.isatty():
                return _fail(args, "refusing to delete without --yes (no terminal to confirm)", 1)
            if input(f"delete {args.name} and all its kept versions? [y/N] ").strip().lower() not in ("y", "yes"):
                return _fail(args, "not deleted", 1)
        store.delete(args.name)
        _ok(args, f"deleted {args.name}", None)
        return 0
    return _run(args, body)


def _ok(args: argparse.Namespace, msg: str, info: Any) -> None:
    if args.json:
        print(json.dumps({"ok": True, "key": info.to_dict() if info is not None else None}))
    else:
        print(msg)
