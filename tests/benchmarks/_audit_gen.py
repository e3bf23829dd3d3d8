"""Write a large, valid audit log fast: real line format and a real hash chain, without AuditLog.

``AuditLog.append`` costs ~0.3 ms (sanitising, redaction, flock, head file): 1,000,000 records
would take minutes. Here each line is built exactly like the writer does (canonical JSON of the
record without "hash", then ``,"hash":"<sha256>"}``, ``prev_hash`` chaining) and written in big
blocks; the head file is written at the end, so ``airlock audit verify`` accepts the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

from airlock._audit_files import HEAD_WIDTH, head_path
from airlock._audit_format import GENESIS_HASH, canonical

AGENTS = ["researcher", "coder", "planner", "mailer", "scraper", "reviewer", "ops-bot", "writer"]
TOOLS = ["read_file", "write_file", "execute_command", "web_search", "send_email", "list_dir", "http_get",
         "delete_file", "python_exec", "git_commit", "db_query", "open_url"]
DECISIONS = ["allowed"] * 14 + ["approved", "denied", "blocked", "timeout"]
LEVELS = ["LOW"] * 10 + ["MEDIUM"] * 3 + ["HIGH", "CRITICAL"]
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu report invoice budget secret "
         "config backup deploy staging prod customer orders metrics").split()
T0 = 1_793_491_200  # 2026-11-01T00:00:00Z


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()


def body(i: int, rnd: random.Random, t: float) -> dict:
    agent, tool = rnd.choice(AGENTS), rnd.choice(TOOLS)
    words = " ".join(rnd.choices(WORDS, k=6))
    decision = rnd.choice(DECISIONS)
    return {
        "agent": {"cmdline": f"python {agent}.py", "cwd": "/home/u/project", "exe": "/usr/bin/python3",
                  "name": agent, "pid": 4000 + i % 97, "session_id": f"s{i // 500}", "uid": 1000},
        "agent_name": agent, "auto_approved": False, "call_id": f"{i:032x}",
        "decided_by": "user" if decision in ("approved", "denied") else "policy",
        "decision": decision, "error": None, "event": "before_tool", "execution_time_ms": None, "extra": {},
        "findings": [], "reason": f"{decision}: {words}", "risk": "low",
        "rule_id": f"r{i % 13}" if i % 5 == 0 else None, "session_id": f"s{i // 500}",
        "threat_level": rnd.choice(LEVELS), "timestamp": _iso(t),
        "tool_input": {"path": f"/home/u/project/{rnd.choice(WORDS)}/file_{i}.txt", "note": words},
        "tool_name": tool,
    }


def line(b: dict, seq: int, prev: str) -> tuple[bytes, str]:
    b["seq"], b["prev_hash"] = seq, prev
    canon = canonical(b)
    digest = hashlib.sha256(canon.encode("utf-8")).hexdigest()
    return (canon[:-1] + ',"hash":"' + digest + '"}\n').encode("utf-8"), digest


def generate(path: Path, n: int, seed: int = 7, span_s: float = 30 * 86400) -> Path:
    """Write ``n`` chained records to ``path`` (one file, no rotation) plus its head file."""
    rnd = random.Random(seed)
    prev, block, size = GENESIS_HASH, [], 0
    with open(path, "wb") as fh:
        for i in range(n):
            data, prev = line(body(i, rnd, T0 + span_s * i / max(1, n)), i, prev)
            block.append(data)
            if len(block) >= 20_000:
                size += fh.write(b"".join(block))
                block = []
        size += fh.write(b"".join(block))
    head = json.dumps({"v": 1, "seq": n - 1, "hash": prev, "first_seq": 0, "ino": os.stat(path).st_ino,
                       "size": size}, separators=(",", ":"))
    head_path(path).write_bytes(head.ljust(HEAD_WIDTH - 1).encode("ascii") + b"\n")
    return path
