"""The Airlock socket protocol: newline-delimited JSON frames, pure functions only.

Kept free of sockets and threads so the parser can be fuzzed on its own. Every way a
frame can be wrong maps to a ``ProtocolError`` with a stable ``code``; nothing else is
ever raised by ``parse_request``/``parse_response`` (see docs/protocol.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "MAX_FRAME",
    "MAX_DEPTH",
    "METHODS",
    "ERROR_CODES",
    "ProtocolError",
    "Request",
    "Response",
    "FrameReader",
    "encode",
    "request",
    "response",
    "error_response",
    "notification",
    "parse_request",
    "parse_response",
]

PROTOCOL_VERSION = 1
#: a frame, including its newline, is at most this many bytes
MAX_FRAME = 1024 * 1024
#: bytes asked of one recv(): a bigger request makes CPython allocate (and then shrink) a buffer of
#: that size per call, which cost ~20 us hot and far more cold with 256 KiB; frames span calls anyway
RECV_CHUNK = 65536
#: JSON nesting deeper than this is refused (keeps every later walker far from recursion limits)
MAX_DEPTH = 64
#: request id: a string of at most 128 characters or an integer that fits in 64 bits
_MAX_ID_CHARS = 128

METHODS = frozenset({"hello", "before_agent", "before_tool", "after_tool", "ping", "status", "get_secret"})

ERROR_CODES = frozenset({
    "parse_error",         # not UTF-8, not JSON, or not an object
    "frame_too_large",     # longer than MAX_FRAME
    "too_deep",            # nested deeper than MAX_DEPTH
    "invalid_request",     # missing/ill-typed v, id, method or params
    "unknown_method",      # method not in METHODS
    "invalid_params",      # params do not fit the method (e.g. a bad event)
    "unsupported_version", # hello asked for a protocol this server does not speak
    "hello_required",      # an event method before a successful hello
    "frame_timeout",       # half a frame, then silence
    "unauthorized",        # peer of another uid
    "busy",                # server out of capacity; risky calls are to be treated as denied
    "shutting_down",       # server stopping
    "internal_error",      # a server bug; the call is to be treated as denied
    "secret_denied",       # get_secret: policy or the user said no, or nobody answered in time
    "secret_not_found",    # get_secret: no key of that name is stored
    "keystore_unavailable",  # get_secret: the server cannot open its key store (locked, no password)
})


class ProtocolError(Exception):
    """A frame could not be accepted. ``id`` is the request id when it could be read."""

    def __init__(self, code: str, message: str, id: str | int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code if code in ERROR_CODES else "internal_error"
        self.message = message
        self.id = id

    def to_frame(self) -> bytes:
        return error_response(self.id, self.code, self.message)


@dataclass(frozen=True, slots=True)
class Request:
    id: str | int
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Response:
    """A reply (``ok`` with ``result`` or not with ``error_code``/``error_message``) or a
    notification about a request still in progress (``notice`` set, e.g. ``approval_pending``)."""

    id: str | int | None
    ok: bool
    result: dict[str, Any] | None = None
    error_code: str = ""
    error_message: str = ""
    notice: str = ""
    data: dict[str, Any] | None = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_decoder = json.JSONDecoder(parse_constant=_reject_constant)


def _depth_ok(obj: Any, limit: int = MAX_DEPTH) -> bool:
    """Iterative nesting check (no recursion, linear in the number of values)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        cur, depth = stack.pop()
        if isinstance(cur, dict):
            if depth > limit:
                return False
            stack.extend((v, depth + 1) for v in cur.values() if isinstance(v, (dict, list)))
        elif isinstance(cur, list):
            if depth > limit:
                return False
            stack.extend((v, depth + 1) for v in cur if isinstance(v, (dict, list)))
    return True


def _load(line: bytes | bytearray | memoryview) -> dict[str, Any]:
    if len(line) > MAX_FRAME:
        raise ProtocolError("frame_too_large", f"frame of {len(line)} bytes exceeds {MAX_FRAME}")
    try:
        text = bytes(line).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("parse_error", f"frame is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    text = text.strip()
    if not text:
        raise ProtocolError("parse_error", "empty frame")
    try:
        obj, end = _decoder.raw_decode(text)
    except RecursionError:
        raise ProtocolError("too_deep", f"JSON nested deeper than {MAX_DEPTH}") from None
    except (ValueError, TypeError) as exc:
        raise ProtocolError("parse_error", f"not JSON: {str(exc)[:200]}") from None
    if end != len(text):
        raise ProtocolError("parse_error", f"extra data after the JSON value at char {end}")
    if not isinstance(obj, dict):
        raise ProtocolError("parse_error", f"a frame must be a JSON object, not {type(obj).__name__}")
    # a value nested d deep needs d opening brackets in the text (brackets inside strings only add
    # to the count), so a frame with at most MAX_DEPTH of them needs no walk
    if text.count("{") + text.count("[") > MAX_DEPTH and not _depth_ok(obj):
        raise ProtocolError("too_deep", f"JSON nested deeper than {MAX_DEPTH}", _safe_id(obj.get("id")))
    return obj


def _safe_id(raw: Any) -> str | int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int) and -(2**63) <= raw < 2**63:
        return raw
    if isinstance(raw, str) and 0 < len(raw) <= _MAX_ID_CHARS:
        return raw
    return None


def parse_request(line: bytes | bytearray | memoryview) -> Request:
    """One frame (with or without its newline) -> ``Request``. Raises only ``ProtocolError``."""
    try:
        obj = _load(line)
        rid = _safe_id(obj.get("id"))
        if rid is None:
            raise ProtocolError("invalid_request", "id must be a non-empty string (<= 128 chars) or a 64-bit integer")
        v = obj.get("v", PROTOCOL_VERSION)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ProtocolError("invalid_request", "v must be an integer", rid)
        if v != PROTOCOL_VERSION:
            raise ProtocolError("unsupported_version", f"frame version {v}; this server speaks {PROTOCOL_VERSION}",
                                rid)
        method = obj.get("method")
        if not isinstance(method, str):
            raise ProtocolError("invalid_request", "method must be a string", rid)
        if method not in METHODS:
            raise ProtocolError("unknown_method", f"unknown method {method[:64]!r}; known: {', '.join(sorted(METHODS))}",
                                rid)
        params = obj.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ProtocolError("invalid_params", "params must be an object", rid)
        return Request(rid, method, params)
    except ProtocolError:
        raise
    except Exception as exc:  # belt and braces: the contract is "only ProtocolError"
        raise ProtocolError("parse_error", f"unreadable frame ({type(exc).__name__})") from None


def parse_response(line: bytes | bytearray | memoryview) -> Response:
    """A server frame -> ``Response``. Raises only ``ProtocolError``."""
    try:
        obj = _load(line)
        rid = _safe_id(obj.get("id"))
        notice = obj.get("notice")
        if notice is not None:
            data = obj.get("data")
            if not isinstance(notice, str) or (data is not None and not isinstance(data, dict)):
                raise ProtocolError("invalid_request", "bad notification", rid)
            return Response(rid, True, notice=notice, data=data or {})
        ok = obj.get("ok")
        if ok is True:
            result = obj.get("result")
            if not isinstance(result, dict):
                raise ProtocolError("invalid_request", "result must be an object", rid)
            return Response(rid, True, result=result)
        if ok is False:
            err = obj.get("error")
            if not isinstance(err, dict):
                raise ProtocolError("invalid_request", "error must be an object", rid)
            return Response(rid, False, error_code=str(err.get("code", "internal_error"))[:64],
                            error_message=str(err.get("message", ""))[:4096])
        raise ProtocolError("invalid_request", "ok must be true or false", rid)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError("parse_error", f"unreadable frame ({type(exc).__name__})") from None


def encode(obj: dict[str, Any]) -> bytes:
    """One frame. Non-JSON values become strings; lone surrogates are escaped, never crash."""
    try:
        data = _ENCODER.encode(obj).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        data = json.dumps(_plain(obj, 0), ensure_ascii=True, separators=(",", ":"), allow_nan=False,
                          default=_default).encode("ascii")
    if len(data) + 1 > MAX_FRAME:
        raise ProtocolError("frame_too_large", f"frame of {len(data) + 1} bytes exceeds {MAX_FRAME}",
                            _safe_id(obj.get("id")))
    return data + b"\n"


def _plain(o: Any, depth: int) -> Any:
    """JSON-safe copy: non-finite floats as strings, depth cut at ``MAX_DEPTH``."""
    if depth > MAX_DEPTH:
        return "<too deep>"
    if isinstance(o, float) and not math.isfinite(o):
        return repr(o)
    if isinstance(o, dict):
        return {str(k): _plain(v, depth + 1) for k, v in o.items()}
    if isinstance(o, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in o]
    return o


def _default(o: Any) -> Any:
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).decode("utf-8", "replace")
    return repr(o)[:1000]


# ``json.dumps`` with these options would build this encoder anew for every frame
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default)


def request(id: str | int, method: str, params: dict[str, Any] | None = None) -> bytes:
    return encode({"v": PROTOCOL_VERSION, "id": id, "method": method, "params": params or {}})


def response(id: str | int | None, result: dict[str, Any]) -> bytes:
    return encode({"v": PROTOCOL_VERSION, "id": id, "ok": True, "result": result})


def error_response(id: str | int | None, code: str, message: str) -> bytes:
    code = code if code in ERROR_CODES else "internal_error"
    return encode({"v": PROTOCOL_VERSION, "id": id, "ok": False, "error": {"code": code, "message": message[:4096]}})


def notification(id: str | int | None, notice: str, data: dict[str, Any] | None = None) -> bytes:
    return encode({"v": PROTOCOL_VERSION, "id": id, "notice": notice, "data": data or {}})


class FrameReader:
    """Splits a byte stream into frames. Linear: each byte is searched for a newline once.

    ``feed`` returns complete frames; an over-long frame is dropped up to its newline and
    reported once as a ``ProtocolError("frame_too_large")`` in the returned list.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._discarding = False

    @property
    def partial(self) -> bool:
        """True while part of a frame is buffered (the server times out a stall)."""
        return bool(self._buf) or self._discarding

    def feed(self, data: bytes) -> list[bytes | ProtocolError]:
        out: list[bytes | ProtocolError] = []
        start = 0
        n = len(data)
        while start < n:
            nl = data.find(b"\n", start)
            end = n if nl < 0 else nl
            if self._discarding:
                if nl >= 0:
                    self._discarding = False
                start = end + 1
                continue
            if len(self._buf) + (end - start) + 1 > self.max_frame:
                self._buf.clear()
                out.append(ProtocolError("frame_too_large", f"frame exceeds {self.max_frame} bytes; dropped"))
                self._discarding = nl < 0
                start = end + 1
                continue
            self._buf += data[start:end]
            if nl < 0:
                break
            frame = bytes(self._buf)
            self._buf.clear()
            if frame.strip():
                out.append(frame)
            start = nl + 1
        return out
