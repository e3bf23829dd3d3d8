"""``airlock doctor``: the reference's security checklist, made of real checks.

Each check returns a ``Check`` (ok / warn / fail + one line that says what to do).
Exit code: 0 when nothing failed (warnings allowed), 1 when something failed.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from . import _dirs


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail"
    detail: str


def _mode_check(name: str, path: Path, want: int, *, missing_ok: bool = True) -> Check:
    try:
        st = path.stat()
    except FileNotFoundError:
        return Check(name, "ok" if missing_ok else "fail", f"{path} does not exist yet")
    except OSError as exc:
        return Check(name, "fail", f"{path}: {exc}")
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != os.getuid():
        return Check(name, "fail", f"{path} belongs to uid {st.st_uid}, not you")
    if mode & ~want:
        return Check(name, "fail", f"{path} has mode {mode:04o}; should be {want:04o} (chmod {want:o} {path})")
    return Check(name, "ok", f"{path} mode {mode:04o}")


def check_dirs() -> list[Check]:
    return [
        _mode_check("runtime dir", _dirs.runtime_dir(), 0o700),
        _mode_check("config dir", _dirs.config_dir(), 0o700),
        _mode_check("state dir", _dirs.state_dir(), 0o700),
        _mode_check("audit log file", _dirs.state_dir() / "audit.jsonl", 0o600),
        _mode_check("policy file", _dirs.config_dir() / "policy.toml", 0o600),
    ]


def check_server() -> list[Check]:
    from .server import default_socket_path, probe

    sock = default_socket_path()
    checks = [_mode_check("socket", sock, 0o600)]
    info = probe(sock)
    if info is None:
        checks.append(Check("server", "warn", f"not running (no answer on {sock}); agents that connect will "
                                              "have risky calls denied. Start it: airlock serve (or airlock tray)"))
    else:
        checks.append(Check("server", "ok", f"running, pid {info.get('pid')}, "
                                            f"{len(info.get('agents', []))} agent(s) connected"))
    return checks


def check_audit() -> list[Check]:
    from .audit import verify

    path = _dirs.state_dir() / "audit.jsonl"
    if not path.exists():
        return [Check("audit chain", "ok", f"no audit log yet ({path})")]
    report = verify(path)
    if not report.ok:
        return [Check("audit chain", "fail", f"TAMPERED: {report.problem}")]
    note = " (last line incomplete: a crash mid-write)" if report.partial_tail else ""
    return [Check("audit chain", "warn" if note else "ok", f"intact, {report.records} records{note}")]


def check_policy() -> list[Check]:
    from .policy import PolicyError, load_policy

    path = _dirs.config_dir() / "policy.toml"
    if not path.exists():
        return [Check("policy file", "ok", "no policy file: the safe defaults apply")]
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        return [Check("policy file", "fail", f"{exc} (the last good policy or the safe defaults stay in force)")]
    return [Check("policy file", "ok", f"valid, {len(policy.rules)} rule(s)")]


def check_keyring() -> list[Check]:
    try:
        import keyring
        from keyring.errors import KeyringError

        backend = keyring.get_keyring()
        name = f"{type(backend).__module__}.{type(backend).__name__}"
        if "fail" in name.lower() or "null" in name.lower() or getattr(backend, "priority", 1) <= 0:
            return [Check("keyring", "warn", f"no usable OS keyring ({name}); keys will use the encrypted file")]
        keyring.get_password("airlock-doctor", "probe")
        return [Check("keyring", "ok", f"reachable: {name}")]
    except KeyringError as exc:
        return [Check("keyring", "warn", f"OS keyring not usable ({exc}); keys will use the encrypted file")]
    except Exception as exc:  # D-Bus errors and the like
        return [Check("keyring", "warn", f"OS keyring not reachable ({type(exc).__name__}: {exc})")]


def check_keys() -> list[Check]:
    """Which backend holds the keys, and which keys are older than 90 days (read from the key
    metadata only: no unlock, no password prompt, no value read)."""
    from .keystore import STALE_DAYS, open_store

    store = open_store(prefer="auto", password=lambda: None, redact=False)
    keys = store.list()
    kind = store.backend_name.split(":", 1)[0]
    checks = [Check("key backend", "ok" if kind == "keyring" else "warn",
                    f"{store.backend_name}, {len(keys)} key(s)" + ("" if kind == "keyring" else
                    " (no OS keyring: values are in the encrypted file, unlocked with AIRLOCK_MASTER_PASSWORD)"))]
    elsewhere = sorted(k.name for k in keys if k.backend and k.backend != kind)
    if elsewhere:
        checks.append(Check("keys elsewhere", "warn", f"kept in another backend, unreachable now: "
                                                      f"{', '.join(elsewhere[:10])}"))
    stale = sorted((k for k in keys if k.stale), key=lambda k: -k.age_days)
    if stale:
        names = ", ".join(f"{k.name} ({int(k.age_days)} days)" for k in stale[:10])
        checks.append(Check("key age", "warn", f"{len(stale)} key(s) older than {STALE_DAYS} days: {names}; "
                                               f"rotate: airlock keys rotate NAME"))
    elif keys:
        checks.append(Check("key age", "ok", f"every key rotated within {STALE_DAYS} days"))
    return checks


def check_sandbox() -> list[Check]:
    from .sandbox import doctor_report

    status, detail = doctor_report()
    return [Check("code sandbox", status, detail)]


def check_scoring_kernel() -> list[Check]:
    from .injection import _kernel

    detail = _kernel.status()
    return [Check("scoring kernel", "ok" if _kernel.load() is not None else "warn", detail)]


CHECKS: list[Callable[[], list[Check]]] = [check_dirs, check_server, check_audit, check_policy, check_keyring,
                                           check_keys, check_sandbox, check_scoring_kernel]


def run_checks() -> list[Check]:
    results: list[Check] = []
    for fn in CHECKS:
        try:
            results.extend(fn())
        except Exception as exc:  # a broken check is a failure, with its reason
            results.append(Check(fn.__name__.removeprefix("check_"), "fail", f"check crashed: {exc!r}"))
    return results


_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def _run(args: argparse.Namespace) -> int:
    results = run_checks()
    if args.json:
        print(json.dumps([asdict(c) for c in results], indent=2))
    else:
        width = max(len(c.name) for c in results)
        for c in results:
            print(f"[{_MARK[c.status]}] {c.name:<{width}}  {c.detail}")
    return 1 if any(c.status == "fail" for c in results) else 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("doctor", help="check Airlock's setup: permissions, server, audit chain, policy, keyring, key age")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
