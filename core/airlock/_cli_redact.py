"""``airlock redact``/``scan-secrets``/``redact-eval``: the redaction engine from the shell.

``redact FILE|-`` prints the text with secrets masked; ``scan-secrets`` lists findings (kind,
offsets, confidence; never the secret text); ``redact-eval`` scores the engine on labelled JSONL.
Exit codes: scan-secrets returns 1 when something was found (usable in pre-commit hooks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_DEFAULT_SET = Path(__file__).resolve().parents[3] / "shared" / "data" / "secrets" / "dev.jsonl"
_LIMIT = 64 * 1024 * 1024


def register(sub: Any) -> None:
    p = sub.add_parser("redact", help="mask secrets and personal data in a file or stdin")
    p.add_argument("file", nargs="?", default="-")
    p.add_argument("--no-pii", action="store_true", help="credentials only, keep e-mails/phones/cards")
    p.set_defaults(func=_redact)
    p = sub.add_parser("scan-secrets", help="list secrets found in a file or stdin (never prints them)")
    p.add_argument("file", nargs="?", default="-")
    p.add_argument("--no-pii", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_scan)
    p = sub.add_parser("redact-eval", help="precision/recall of the redaction engine on labelled JSONL")
    p.add_argument("data", nargs="?", default=str(_DEFAULT_SET))
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", "-v", action="store_true", help="list misses and flagged documents")
    p.set_defaults(func=_eval)


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read(_LIMIT)
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read(_LIMIT)


def _redact(args: argparse.Namespace) -> int:
    from .redaction import redact

    try:
        text = _read(args.file)
    except OSError as exc:
        print(f"airlock redact: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(redact(text, pii=not args.no_pii))
    return 0


def _scan(args: argparse.Namespace) -> int:
    from .redaction import find_secrets

    try:
        text = _read(args.file)
    except OSError as exc:
        print(f"airlock scan-secrets: {exc}", file=sys.stderr)
        return 2
    found = find_secrets(text, pii=not args.no_pii)
    if args.json:
        print(json.dumps({"findings": [f.to_dict() for f in found]}))
    else:
        for f in found:
            line = text.count("\n", 0, f.start) + 1
            print(f"line {line}: {f.kind} ({f.end - f.start} chars, confidence {f.confidence:.2f})")
        print(f"{len(found)} finding(s)")
    return 1 if found else 0


def _eval(args: argparse.Namespace) -> int:
    from .redaction._eval import evaluate, format_report

    path = Path(args.data)
    if not path.exists():
        print(f"airlock redact-eval: {path} not found", file=sys.stderr)
        return 2
    rep = evaluate(path)
    summary = rep.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_report(summary))
        if args.verbose:
            for m in rep.misses:
                print("MISS", m["kind"], m["label"], f"({len(m['text'])} chars)")
            for fl in rep.flags:
                print("FLAG", fl["tier"], fl["category"], [k for k, _ in fl["found"]])
    return 0
