"""The wire protocol's pure functions: framing, parsing, errors, decision round trip."""

from __future__ import annotations

import json

import pytest

from airlock import protocol as P
from airlock._peer import PeerCred, check_peer
from airlock.events import (
    Action,
    Decision,
    Outcome,
    RiskLevel,
    Verdict,
    decision_from_dict,
    decision_to_dict,
)
from airlock.threat import Finding, Severity, ThreatLevel


def test_request_round_trip() -> None:
    frame = P.request(7, "before_tool", {"event": {"kind": "before_tool", "tool_name": "x"}})
    assert frame.endswith(b"\n") and frame.count(b"\n") == 1
    req = P.parse_request(frame)
    assert (req.id, req.method, req.params["event"]["tool_name"]) == (7, "before_tool", "x")


def test_response_and_error_round_trip() -> None:
    r = P.parse_response(P.response("a", {"pong": True}))
    assert r.ok and r.id == "a" and r.result == {"pong": True}
    e = P.parse_response(P.error_response(3, "busy", "full"))
    assert not e.ok and e.error_code == "busy" and e.error_message == "full"
    n = P.parse_response(P.notification(4, "approval_pending", {"request_id": "r"}))
    assert n.notice == "approval_pending" and n.data == {"request_id": "r"} and n.id == 4


@pytest.mark.parametrize("raw, code", [
    (b"", "parse_error"),
    (b"   \n", "parse_error"),
    (b"[1,2]", "parse_error"),
    (b"{", "parse_error"),
    (b"\xff\xfe{}", "parse_error"),
    (b'{"id":1,"method":"ping"} trailing', "parse_error"),
    (b'{"id":1,"method":"ping","x":NaN}', "parse_error"),
    (b'{"method":"ping"}', "invalid_request"),
    (b'{"id":true,"method":"ping"}', "invalid_request"),
    (b'{"id":"","method":"ping"}', "invalid_request"),
    (b'{"id":99999999999999999999999,"method":"ping"}', "invalid_request"),
    (b'{"id":1}', "invalid_request"),
    (b'{"id":1,"method":5}', "invalid_request"),
    (b'{"id":1,"method":"rm_rf"}', "unknown_method"),
    (b'{"id":1,"method":"ping","params":[1]}', "invalid_params"),
    (b'{"id":1,"v":2,"method":"ping"}', "unsupported_version"),
    (b'{"id":1,"v":"1","method":"ping"}', "invalid_request"),
    (b"[" * 100_000, "too_deep"),
    (b'{"id":1,"method":"ping","params":{"a":' + b"[" * 80 + b"]" * 80 + b"}}", "too_deep"),
])
def test_bad_frames_get_structured_errors(raw: bytes, code: str) -> None:
    with pytest.raises(P.ProtocolError) as info:
        P.parse_request(raw)
    assert info.value.code == code
    # and the error itself is a valid frame a client can parse
    err = P.parse_response(info.value.to_frame())
    assert not err.ok and err.error_code == code


def test_error_keeps_the_request_id_when_readable() -> None:
    with pytest.raises(P.ProtocolError) as info:
        P.parse_request(b'{"id":"abc","method":"nope"}')
    assert info.value.id == "abc"
    assert P.parse_response(info.value.to_frame()).id == "abc"


def test_oversized_frame_is_refused_by_parser_and_encoder() -> None:
    big = b'{"id":1,"method":"ping","params":{"x":"' + b"a" * P.MAX_FRAME + b'"}}'
    with pytest.raises(P.ProtocolError) as info:
        P.parse_request(big)
    assert info.value.code == "frame_too_large"
    with pytest.raises(P.ProtocolError) as info:
        P.request(1, "ping", {"x": "a" * P.MAX_FRAME})
    assert info.value.code == "frame_too_large"


def test_encode_survives_surrogates_nan_and_objects() -> None:
    frame = P.encode({"id": 1, "s": "\ud800x", "f": float("nan"), "o": object(), "b": b"\xffab", "t": (1, 2)})
    obj = json.loads(frame)
    assert obj["s"] == "\ud800x" and obj["f"] == "nan" and obj["t"] == [1, 2]
    assert obj["o"].startswith("<object")


def test_frame_reader_splits_and_bounds() -> None:
    r = P.FrameReader(max_frame=32)
    out = r.feed(b'{"a":1}\n{"b"')
    assert out == [b'{"a":1}'] and r.partial
    out = r.feed(b":2}\n\n")
    assert out == [b'{"b":2}'] and not r.partial
    # an over-long frame is reported once, dropped up to its newline, and the stream recovers
    out = r.feed(b"x" * 20)
    assert out == [] and r.partial
    out = r.feed(b"y" * 20)
    assert len(out) == 1 and isinstance(out[0], P.ProtocolError) and out[0].code == "frame_too_large"
    assert r.feed(b"z" * 100) == []
    assert r.feed(b'zz\n{"c":3}\n') == [b'{"c":3}']
    assert not r.partial


def test_frame_reader_byte_by_byte() -> None:
    r = P.FrameReader()
    frames = P.request(1, "ping") + P.request(2, "status")
    got = []
    for i in range(len(frames)):
        got.extend(r.feed(frames[i:i + 1]))
    assert [P.parse_request(f).id for f in got] == [1, 2]


def test_decision_round_trip() -> None:
    f = Finding("override", 1, 5, "ignore", Severity.DANGEROUS, 0.9, "tool_input.cmd")
    v = Verdict(Action.ASK, "why", "rule:r1", ThreatLevel.HIGH, (f,), RiskLevel.CRITICAL, "r1",
                {"cmd": "ls"}, ("hook boom",), False)
    d = Decision(Outcome.DENIED, "denied on the terminal", "user", v, {"cmd": "ls"}, False)
    wire = json.loads(json.dumps(decision_to_dict(d)))
    back = decision_from_dict(wire)
    assert back == d


@pytest.mark.parametrize("bad", [None, [], {"outcome": "maybe"}, {"outcome": "allowed", "verdict": []},
                                 {"outcome": "allowed", "tool_input": "x"}])
def test_decision_from_bad_dict_raises(bad: object) -> None:
    with pytest.raises((TypeError, ValueError, KeyError)):
        decision_from_dict(bad)  # type: ignore[arg-type]


def test_check_peer() -> None:
    assert check_peer(PeerCred(10, 1000, 1000), own_uid=1000) is None
    reason = check_peer(PeerCred(10, 65534, 65534), own_uid=0)
    assert reason is not None and "65534" in reason and "pid 10" in reason
    assert check_peer(None) is not None
