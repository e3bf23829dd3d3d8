"""The RE2 prefilter may only skip work, never findings: gated detection must equal running every
detector, the layered audit redactor must equal engine-then-interim, and its cache must follow the
key store."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest

from airlock import _redact
from airlock.redaction import KNOWN, _gates, find_secrets, redact, redact_layered
from airlock.redaction._prefilter import Prefilter, _gate_text, gate_of
from airlock.redaction._strict import mask_opaque_values
from tests.benchmarks.bench_redact import corpus
from tests.conftest import shared_file

_ODD = ["\u212a", "\u017f", "\u0130", "\u0131", "\u00a0", "\u2003", "\u0663", "\x0b", "\x1c", "\x85", "\ud800", "é"]
_FRAGS = ["password", "=", ": ", '"', "'", "\n", "-u ", "--token ", "Bearer ", "eyJ", "@", "://", "apiVersion: v1\n",
          "data:\n  k: QUJDRA==\n", "-----BEGIN RSA PRIVATE KEY-----\n", "ssn ", "phone ", "kind: Secret\n", "4111 1111 ",
          "DE89 3704 0044 0532 0130 00", "xoxb-", "ghp_", "AKIA", "sk-", "hf_", "key=", "x.", "123-45-6789",
          "jane.doe@corp.io", "+1 (555) 010-2233", "<add key=\"Password\" value=\"hunter2xx\"/>"] + _ODD


def _same(text: str) -> None:
    assert find_secrets(text) == find_secrets(text, _fired=None), text[:200]
    # the layered redactor = engine, interim passes, then the audit-only opaque-value pass
    assert redact_layered(text) == mask_opaque_values(_redact.redact_text(redact(text))), text[:200]


def _fragments(texts: list[str]) -> list[str]:
    out = list(_FRAGS)
    rnd = random.Random(5)
    for t in texts:
        for i in range(0, len(t), 9):
            out.append(t[i:i + rnd.randint(1, 40)])
    return out


def test_every_gate_compiles() -> None:
    assert _gates.PREFILTER.always == frozenset()
    assert _gates.fired_gates("ordinary words and numbers 12") == set()


def test_gated_equals_ungated_on_the_dev_set() -> None:
    docs = [json.loads(line)["text"] for line in shared_file("data", "secrets", "dev.jsonl").read_text().splitlines()]
    variants = [d.replace(" ", "\u00a0") for d in docs[:200]] + [d.replace("k", "\u212a") for d in docs[:200]]
    for text in docs + variants:
        _same(text)


def test_gated_equals_ungated_on_generated_text() -> None:
    base = [corpus(kind, 3000, seed) for kind in ("clean", "dirty", "adversarial") for seed in range(2)]
    for text in base:
        _same(text)
    frags = _fragments(base)
    rnd = random.Random(11)
    for _ in range(2500):
        _same("".join(rnd.choice(frags) for _ in range(rnd.randint(1, 30))))


def test_gate_of_is_a_relaxed_re2_pattern() -> None:
    g = gate_of(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9]{32,100}(?![A-Za-z0-9]|\.\d)")
    assert g == "sk-[A-Za-z0-9]{16,}"
    assert gate_of(r"a{32,100}b{0,2}", cap=3) == "a{3,}b{0,2}"  # small bounds stay exact
    assert gate_of(r"a\sb[^\s]") == "a[\\t\\n\\x0b\\x0c\\r \\x1c-\\x1f]b[^\\t\\n\\x0b\\x0c\\r \\x1c-\\x1f]"
    with pytest.raises(ValueError):
        gate_of(r"(\d)\1")
    with pytest.raises(ValueError):
        gate_of(r"^x")
    # a gate matches wherever its pattern does (here: Python's \s includes \x1c and \v)
    import re2

    for pat, text in ((r"(?<!x)ab\s{2,4}c(?=d)", "ab\x1c\x0bcd"), (r"q[^\s]{3}", "q\u00e9zz")):
        assert re.search(pat, text)
        assert re2.search(gate_of(pat), _gate_text(text))


def test_gate_text_keeps_matches_of_unicode_lookalikes() -> None:
    assert _gate_text("\u212aey \u0663\u2003\u017f") == "key 0 s"
    assert _gate_text("\ud800x").isascii()
    # Python's lower() turns KELVIN SIGN into 'k': 'api_\u212aey=...' is a keyword assignment
    text = "api_\u212aey=Zx81Kq0PmLw3RtY7vBn2Hc"
    assert find_secrets(text) and find_secrets(text) == find_secrets(text, _fired=None)


def test_a_scan_that_did_not_reach_the_end_means_run_everything() -> None:
    """RE2's Set.Match answers "no match" when its DFA runs out of memory. The prefilter only
    trusts a result that contains the end-of-text sentinel; here a real set whose "sentinel" can
    never match stands in for a scan that gave up."""
    import re2

    p = Prefilter([("a", "abc")])
    assert p.fired("xx abc") == {"a"} and p.fired("xx") == set()
    st = re2.Set.SearchSet()
    st.Add("abc")
    never = st.Add(r"\z\A.")
    st.Compile()
    p._sets = [(st, {0: "a"}, never)]
    assert p.fired("xx abc") is None and p.fired("xx") is None


def test_clean_text_fires_no_detector_and_is_cheap() -> None:
    doc = json.dumps({"path": "/home/u/project/src/module.py", "mode": "w",
                      "content": "def handler(event, context):\n    return json.dumps(result)  # TODO\n" * 12})
    assert _gates.fired_gates(doc) == set()
    assert redact_layered(doc) is doc
    # clean 1 kB costs one RE2 scan: far below running every detector (generous bound, noisy machines)
    def cost(fn) -> float:  # noqa: ANN001
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(50):
                fn(doc + " ")  # a new string each time: no cache
            best = min(best, time.perf_counter() - t0)
        return best
    assert cost(lambda s: redact_layered(s + "x")) * 3 < cost(lambda s: _redact.redact_text(redact(s, _fired=None)))


def test_linear_on_adversarial_input() -> None:
    units = ["a" * 200 + "!", "password" * 20 + "=", "token=" * 30, "a." * 100 + "@", "1 " * 100,
             "eyJ" + "a" * 100 + ".eyJ", "QUJD" * 50, "sk-" * 40, "-u " * 40, "\u212a" * 30]
    rnd = random.Random(1)
    text = "".join(rnd.choice(units) for _ in range(400))

    def best(t: str) -> float:
        b = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            redact_layered(t)
            b = min(b, time.perf_counter() - t0)
        return b
    small, big = best(text[: len(text) // 4]), best(text)
    assert big < 12 * small + 0.05, (small, big)


def test_cache_follows_the_key_store() -> None:
    value = "plainish-stored-value-77"
    text = f"x {value} y"
    assert redact_layered(text) == text  # cached as clean
    KNOWN.set("test-prefilter", [value])
    try:
        assert value not in redact_layered(text)
        assert "[REDACTED:stored_key]" in redact_layered(text)
    finally:
        KNOWN.discard("test-prefilter")
    assert redact_layered(text) == text


def test_audit_log_redacts_with_cached_short_strings(tmp_path: Path) -> None:
    from airlock.audit import AuditLog, verify
    from airlock.events import AuditRecord

    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    log = AuditLog(tmp_path / "a.jsonl")
    for i in range(3):
        log.append(AuditRecord(timestamp="t", session_id="s", agent_name="a", tool_name="shell",
                               tool_input={"cmd": f"echo {secret}", "token": "short", "n": i, "ok": True},
                               execution_time_ms=None, error=None, event="before_tool", decision="allowed",
                               decided_by="test", agent={"name": "a", "pid": 1}))
    raw = (tmp_path / "a.jsonl").read_text("utf-8")
    assert secret not in raw and "short" not in raw
    assert raw.count("[REDACTED") >= 6
    assert verify(tmp_path / "a.jsonl").ok
