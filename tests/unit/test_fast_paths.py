"""Fast paths on the ``before_tool`` round trip give exactly what the slow paths give.

Each shortcut is checked against the plain computation it replaces, on ordinary, secret-bearing
and adversarial input: the batched audit redaction (``redact_many``), the one-scan opaque-value
check and the pruned opaque-value pass (``_strict``), the look-behind vendor gates, the
protected-path judge and the protocol's nesting check.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import random
import re
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airlock import _audit_format as F
from airlock import _redact
from airlock import paths as P
from airlock import protocol as proto
from airlock.events import AuditRecord
from airlock.redaction import KNOWN, _gates, _strict, find_secrets, redact, redact_layered, redact_many
from airlock.redaction._vendors import VENDOR_RULES
from tests.benchmarks.bench_redact import corpus

_SECRETS = [
    "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "AKIAIOSFODNN7EXAMPLQ",
    "sk-" + "Zx81Kq0PmLw3RtY7vBn2Hc4Jd5Fg6Ss7Aa8Bb9Cc",
    'password = "hunter2-Very-Secret-77"',
    "Authorization: Bearer abcDEF1234567890ghiJKL",
    "jane.doe@corp.io", "+1 (555) 010-2233", "123-45-6789", "4111 1111 1111 1111",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "key: bXlwYXNzd29yZA==", "QmVkcm9ja0FQSUtleS1vbmx5LWZvci10ZXN0cw==",
    'token: "su' + "Ab3dE5gH7jK9" + '"', "=00" + "Ab3_dE5-gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7" + " ",
    ' s.' + "Ab3dE5gH7jK9mN1pQ3sT5vW7" + " ", "https://user:pa55word@example.com/x",
]
_PLAIN = ["Summarise the installation section and list the supported platforms.", "read_file", "before_tool",
          "/home/user/project/README.md", "allowed by rule bench", "s-a10f94d6f31d8e71", "",
          "2026-11-23T13:17:59.698606+00:00", "superintendent supplementary", "a\nb", "x\x0by", "\u212aey=é",
          "0f3a9c2b7d1e4f5a8b6c9d0e1f2a3b4c", "0F3A9C2B7D1E4F5A8B6C9D0E1F2A3B4C", "AbCdEfGh12345678/+="]
_ODD = ["\u212a", "\u017f", "\u00a0", "\u2003", "\u0663", "\x0b", "\x1c", "\x85", "é", "=", ":", '"', "\n", " "]


def _reference_layered(text: str) -> str:
    """What ``redact_layered`` computes, with no gate, cache or batch involved."""
    out = _redact.redact_text(redact(text, _fired=None))
    return _strict.mask_opaque_values(out) if len(out) >= 16 and _strict.has_candidate(out) else out


def _texts(rnd: random.Random) -> list[str]:
    pool = _SECRETS + _PLAIN + [uuid.uuid4().hex for _ in range(3)] + [corpus("clean", 300, 1)[:200]]
    out = []
    for _ in range(rnd.randint(1, 6)):
        parts = [rnd.choice(pool + _ODD) for _ in range(rnd.randint(1, 4))]
        out.append(rnd.choice(["", " ", "=", "\n", ": "]).join(parts))
    return out


# --------------------------------------------------------------------------- redact_many
def test_redact_many_equals_redact_layered_one_by_one() -> None:
    rnd = random.Random(7)
    for _ in range(1500):
        texts = _texts(rnd)
        got = redact_many(texts)
        assert got == [_reference_layered(t) for t in texts], texts
        assert got == [redact_layered(t) for t in texts], texts


def test_redact_many_on_corpora_and_edge_cases() -> None:
    docs = [corpus(kind, 2000, seed) for kind in ("clean", "dirty", "adversarial") for seed in range(2)]
    for batch in (docs, docs[:1], [""], ["", ""], ["\ud800 lone surrogate"], [_SECRETS[0], "clean words here"],
                  ["0f3a9c2b7d1e4f5a8b6c9d0e1f2a3b4c", "plain words"], ["ends with =", "Ab3dE5gH7jK9mN1pQ3sT5vW7xx"]):
        assert redact_many(batch) == [_reference_layered(t) for t in batch]


def test_redact_many_follows_the_key_store() -> None:
    value = "plainish-stored-value-88"
    texts = [f"x {value} y", "0f3a9c2b7d1e4f5a8b6c9d0e1f2a3b4c"]
    assert redact_many(texts) == texts
    KNOWN.set("test-fast-paths", [value])
    try:
        out = redact_many(texts)
        assert value not in out[0] and "[REDACTED:stored_key]" in out[0]
        assert out == [redact_layered(t) for t in texts]
    finally:
        KNOWN.discard("test-fast-paths")
    assert redact_many(texts) == texts


def test_audit_body_is_the_same_as_with_one_by_one_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit record written with the batched redaction equals the one written when every
    deferred string goes through the redactor alone (the path taken when the batch fails)."""
    rnd = random.Random(3)
    records = []
    for _ in range(300):
        tool_input = {rnd.choice(["path", "note", "cmd", "x", "api_key", "data"]): rnd.choice(_SECRETS + _PLAIN)
                      for _ in range(rnd.randint(1, 4))}
        tool_input["nested"] = {"list": [rnd.choice(_SECRETS + _PLAIN) for _ in range(3)]}
        records.append(AuditRecord(
            timestamp="2026-11-23T13:17:59.%06d+00:00" % rnd.randrange(10**6), session_id="s-" + uuid.uuid4().hex[:16],
            agent_name="bench", tool_name="read_file", tool_input=tool_input, execution_time_ms=None, error=None,
            event="before_tool", decision="allowed", decided_by="rule:bench",
            call_id=rnd.choice([uuid.uuid4().hex, rnd.choice(_SECRETS)]), reason=rnd.choice(_PLAIN + _SECRETS)))
    red = F.safe_text(F.current_redactor())
    fast = [F.prepare(r, red) for r in records]

    def boom(texts: list[str]) -> list[str]:
        raise RuntimeError("no batch")

    monkeypatch.setattr(F, "_redact_many", boom)
    slow = [F.prepare(r, red) for r in records]
    assert fast == slow
    assert all(s not in json.dumps(b) for b in fast for s in (_SECRETS[0], _SECRETS[1]))


# --------------------------------------------------------------------------- _strict
def _opaque_reference(tok: str, *, at_start: bool) -> bool:
    tok = tok.rstrip(".,;:!?")
    if len(tok) < 16 or _strict._DATE.match(tok) or tok.startswith(("/", "./", "~/", "../")) or _strict._EXT.search(tok):
        return False
    if "://" in tok or not any(c.isdigit() for c in tok) or not any(c.isalpha() for c in tok):
        return False
    n = len(tok)
    if -sum(c / n * math.log2(c / n) for c in Counter(tok).values()) < 3.0:
        return False
    if at_start:
        return (any(c.islower() for c in tok) and any(c.isupper() for c in tok)) or any(c in "+/=" for c in tok)
    return True


def _mask_reference(text: str) -> str:
    spans = []
    context, start = _strict._patterns(text) if not text.isascii() else (_strict._CONTEXT, _strict._START)
    for rx, at_start in ((start, True), (context, False)):
        for m in rx.finditer(text):
            if _opaque_reference(m.group(1), at_start=at_start):
                spans.append((m.start(1), m.start(1) + len(m.group(1).rstrip(".,;:!?"))))
    out, last = [], 0
    for s, e in sorted(spans):
        if s < last:
            continue
        out += [text[last:s], _strict.MARK]
        last = e
    return "".join(out + [text[last:]])


def _has_candidate_reference(text: str) -> bool:
    context, start = _strict._patterns(text)
    return context.search(text) is not None or start.search(text) is not None


def _strict_samples(n: int) -> list[str]:
    rnd = random.Random(5)
    alpha = "abcXYZ0189+/=_-.~@#:=,\"'` \n\t()>é\u2003\x0b\x1c"
    words = ["key ", "token ", "Bearer ", "password ", "= ", ": ", '"', "/tmp/", ".txt", "2026-01-02",
             "https://", "\ud800"]
    out = list(_SECRETS + _PLAIN)
    for _ in range(n):
        t = "".join(rnd.choice(alpha) for _ in range(rnd.randint(0, 40)))
        if rnd.random() < 0.5:
            t += rnd.choice(words)
        if rnd.random() < 0.6:
            t += "".join(rnd.choice("abcdefABCDEF0123456789+/=") for _ in range(rnd.randint(10, 40)))
        if rnd.random() < 0.3:
            t = rnd.choice(words) + t
        out.append(t)
    return out


def test_one_scan_candidate_check_equals_the_two_searches() -> None:
    for t in _strict_samples(20000):
        assert _strict.has_candidate(t) == _has_candidate_reference(t), repr(t)


def test_pruned_opaque_pass_equals_the_full_pass() -> None:
    for t in _strict_samples(20000):
        assert _strict.mask_opaque_values(t) == _mask_reference(t), repr(t)
        tok = t.strip()
        for at_start in (True, False):
            assert _strict._opaque(tok, at_start=at_start) == _opaque_reference(tok, at_start=at_start), repr(tok)


def test_a_set_scan_that_gave_up_falls_back_to_the_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    import re2

    st = re2.Set.SearchSet()
    st.Add("a")
    st.Add("b")
    never = st.Add(r"\z\A.")  # a "sentinel" that never matches: stands in for a DFA that ran out of memory
    st.Compile()
    monkeypatch.setattr(_strict, "_SET", (st, 0, 1, never))
    for t in ("0f3a9c2b7d1e4f5a8b6c9d0e1f2a3b4c", "key: bXlwYXNzd29yZA==", "plain"):
        assert _strict.has_candidate(t) == _has_candidate_reference(t)
        assert _strict.mask_opaque_values(t) == _mask_reference(t)


# --------------------------------------------------------------------------- look-behind gates
def test_look_behind_rules_keep_their_class_in_the_gate() -> None:
    behind = [i for i, r in enumerate(VENDOR_RULES) if r.pattern.pattern.startswith("(?<=")
              or re.match(r"^[A-Za-z0-9]+\(\?<=", r.pattern.pattern)]
    assert behind, "no look-behind vendor rule left: drop this test with _behind_gate"
    for i in behind:
        gate = _gates._vendor_gate(i)
        assert gate is not None and gate.startswith("["), (i, gate)
    # ordinary words no longer fire them
    assert _gates.fired_gates("Summarise and list the supported platforms: subsystems 0012 s.t. b.c.") == set()


def test_look_behind_gates_never_hide_a_finding() -> None:
    rnd = random.Random(9)
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    before = ['"', "'", " ", "=", ":", "x", "\u00a0", "\u2003", "\n", "-", "_"]
    after = ['"', "'", " ", "\n", ",", ";", "", "x", "\u2003", ".", "-"]
    for _ in range(4000):
        head = rnd.choice(["su", "00", "s.", "b."])
        n = rnd.choice([10, 11, 12, 13, 23, 24, 25, 39, 40, 41])
        body = "".join(rnd.choice(alnum + ("_-" if head == "00" else "")) for _ in range(n))
        text = rnd.choice(["", "token", "key", "x"]) + rnd.choice(before) + head + body + rnd.choice(after) + "tail"
        assert find_secrets(text) == find_secrets(text, _fired=None), text
        assert redact_layered(text) == _reference_layered(text), text


# --------------------------------------------------------------------------- protected paths
def _judge_reference(abspath: str, extra: tuple[str, ...]) -> str | None:
    lower = abspath.lower()
    parts = [p for p in lower.split("/") if p]
    if parts:
        for pattern, why in P.DEFAULT_NAME_RULES:
            if fnmatch.fnmatchcase(parts[-1], pattern):
                return why
        for part in parts:
            for dirname, why in P.DEFAULT_DIR_RULES:
                if part == dirname:
                    return why
    home = P._home().lower().rstrip("/")
    for rel, why in P.HOME_RULES:
        if P._under(lower, f"{home}/{rel}"):
            return why
    for root, why in P._airlock_roots():
        if P._under(abspath, root):
            return why
    for pattern in extra:
        pat = os.path.expanduser(pattern).lower()
        if "/" in pat.rstrip("/"):
            if fnmatch.fnmatchcase(lower, pat) or P._under(lower, pat.rstrip("/")):
                return f"protected by your policy ({pattern})"
        elif any(fnmatch.fnmatchcase(p, pat.rstrip("/")) for p in parts):
            return f"protected by your policy ({pattern})"
    return None


def test_path_judge_equals_the_rule_by_rule_walk() -> None:
    rnd = random.Random(3)
    home = os.path.expanduser("~")
    comps = [".env", ".ENV.local", ".envrc", "a.pem", "x.KEY", "k.p12", "b.pfx", "id_rsa", "id_rsa.pub", "id_ed25519",
             "id_ecdsa_sk", "id_dsa", "wallet.json", ".netrc", ".git-credentials", ".pgpass", ".git", "node_modules",
             "praisonaiagents", ".ssh", ".gnupg", ".aws", "credentials", "config", ".kube", ".docker", "config.json",
             ".config", "gcloud", ".bashrc", ".profile", ".zshrc", "autostart", "systemd", "user", "README.md", "src",
             "a\nb", "é", "\u017f", "\u212a", "..", ".", "", "x.env", "envx", ".env.", "id_rs", "wallet.jsonx", "home"]
    for _ in range(30000):
        base = rnd.choice(["/", home + "/", home.upper() + "/", "/tmp/", home + "x/"])
        path = base + "/".join(rnd.choice(comps) for _ in range(rnd.randint(1, 6))) + rnd.choice(["", "/"])
        extra = tuple(rnd.sample(["*.secret", "~/private/", "/etc/*", "notes", ".ENV"], rnd.randint(0, 2)))
        assert P._judge(path, extra) == _judge_reference(path, extra), path


# --------------------------------------------------------------------------- protocol
def _nested(depth: int) -> str:
    return "[" * (depth - 1) + "1" + "]" * (depth - 1)


def test_nesting_limit_with_the_bracket_count_shortcut() -> None:
    ok = f'{{"v":1,"id":1,"method":"ping","params":{{"x":{_nested(proto.MAX_DEPTH - 2)}}}}}'.encode()
    assert proto.parse_request(ok).method == "ping"
    deep = f'{{"v":1,"id":1,"method":"ping","params":{{"x":{_nested(proto.MAX_DEPTH)}}}}}'.encode()
    with pytest.raises(proto.ProtocolError) as exc:
        proto.parse_request(deep)
    assert exc.value.code == "too_deep"
    # many brackets, all inside strings: counted, then walked, and accepted
    wide = json.dumps({"v": 1, "id": 2, "method": "ping", "params": {"s": "[{" * 500}}).encode()
    assert proto.parse_request(wide).params == {"s": "[{" * 500}
    # many shallow containers: more brackets than the limit, depth 3
    flat = json.dumps({"v": 1, "id": 3, "method": "ping", "params": {"l": [[] for _ in range(200)]}}).encode()
    assert proto.parse_request(flat).id == 3


def test_encoder_is_json_dumps() -> None:
    obj = {"v": 1, "id": "x", "result": {"a": ["é", 1.5, None, True, {"k": (1, 2)}, {1, 2}, b"by", object]}}
    want = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                      default=proto._default).encode() + b"\n"
    assert proto.encode(obj) == want


def test_record_written_by_the_log_is_unchanged_in_shape(tmp_path: Path) -> None:
    from airlock.audit import AuditLog, verify

    log = AuditLog(tmp_path / "a.jsonl")
    rec = AuditRecord(timestamp="2026-11-23T13:17:59.698606+00:00", session_id="s-a10f94d6f31d8e71",
                      agent_name="bench", tool_name="read_file",
                      tool_input={"path": "/home/user/project/README.md", "note": _PLAIN[0], "k": _SECRETS[0]},
                      execution_time_ms=None, error=None, event="before_tool", decision="allowed",
                      decided_by="rule:bench", call_id="0f3a9c2b7d1e4f5a8b6c9d0e1f2a3b4c")
    log.append(rec)
    line = json.loads((tmp_path / "a.jsonl").read_text())
    assert line["call_id"] == "0f3a9c2b7d1e4f5a8b6c9d0e1f2a3b4c" and line["tool_input"]["note"] == _PLAIN[0]
    assert _SECRETS[0] not in json.dumps(line)
    assert verify(tmp_path / "a.jsonl").ok


# --------------------------------------------------------------------------- audit timestamps
@settings(max_examples=3000, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 31), timezones=st.just(timezone.utc)))
def test_record_timestamps_need_no_redaction(when: datetime) -> None:
    """``prepare`` skips the redactor for a timestamp in ``utc_iso``'s exact format; that is only
    the same record if the redactor leaves every such timestamp alone, across all of time."""
    from airlock.events import utc_iso

    ts = utc_iso(when.timestamp())
    assert F._UTC_ISO.fullmatch(ts)
    assert F._engine_then_interim(ts) == ts


def test_a_timestamp_of_another_shape_still_goes_through_the_redactor() -> None:
    key = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3rS5tU7vW9xY1zA3bC5dE7f"
    base = dict(session_id="s-1", agent_name="a", tool_name="t", tool_input={}, execution_time_ms=None, error=None,
                event="before_tool", decision="allowed", decided_by="rule:x")
    red = F.safe_text(F.current_redactor())
    odd = F.prepare(AuditRecord(timestamp="2026-11-23T10:00:00+00:00 " + key, **base), red)
    assert key not in odd["timestamp"] and odd["timestamp"].startswith("2026-11-23T10:00:00+00:00 ")
    plain = F.prepare(AuditRecord(timestamp="2026-11-23T10:00:00.123456+00:00", **base), red)
    assert plain["timestamp"] == "2026-11-23T10:00:00.123456+00:00"


def test_prepare_does_not_send_its_own_timestamp_to_the_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    from airlock.events import utc_iso

    F._engine_then_interim("warm up")  # binds F._layered
    seen: list[str] = []
    real = F._layered

    def spy(s: str) -> str:
        seen.append(s)
        return real(s)

    monkeypatch.setattr(F, "_layered", spy)
    ts = utc_iso(1_234_567_890.123456)
    rec = AuditRecord(timestamp=ts, session_id="s-1", agent_name="a", tool_name="t", tool_input={},
                      execution_time_ms=None, error=None, event="before_tool", decision="allowed", decided_by="rule:x")
    body = F.prepare(rec, F.safe_text(F.current_redactor()))
    assert body["timestamp"] == ts and ts not in seen
