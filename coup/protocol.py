"""The WebSocket protocol's vocabulary (PROTOCOL.md): close codes, error codes, frame encoding.

Server frames are unmasked and uncompressed, so the bytes of one event are the same for every
recipient: `encode_push` builds the RFC 6455 frame once and callers write those bytes to each
socket (encode once, write many; ARCHITECTURE §9).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

import ujson

from coup import inbound
from coup.errors import InboundTextError, Text

# Close codes (PROTOCOL §2).
WS_1000_NORMAL = 1000
WS_1001_GOING_AWAY = 1001
WS_1003_UNSUPPORTED_DATA = 1003
WS_1008_POLICY_VIOLATION = 1008
WS_1009_MESSAGE_TOO_BIG = 1009
WS_1011_INTERNAL_ERROR = 1011
WS_1013_TRY_AGAIN_LATER = 1013
WS_4001_AUTH_TIMEOUT = 4001
WS_4029_TOO_MANY_REQUESTS = 4029

# Error codes of failure replies (PROTOCOL §2).
BAD_REQUEST = "BAD_REQUEST"
UNAUTHORIZED = "UNAUTHORIZED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
CONFLICT = "CONFLICT"
RATE_LIMITED = "RATE_LIMITED"
OVERLOADED = "OVERLOADED"
TOO_LARGE = "TOO_LARGE"
CALL_FULL = "CALL_FULL"
RESTRICTED = "RESTRICTED"
INTERNAL = "INTERNAL"

# Events whose frames may be dropped under load (PROTOCOL §5, §9): never durable, never replayed.
DROPPABLE_EVENTS = frozenset({"chat:user-typing"})

_TEXT_FIN = 0x81


@dataclass(frozen=True, slots=True)
class ClientFrame:
    """One decoded client frame: `{"event", "data", "ref"}`."""

    event: str
    data: dict[str, Any]
    ref: int | str | None


class FrameError(Exception):
    """The frame is not a valid client frame; `ref` is kept when it could be read."""

    def __init__(self, message: str | Text, ref: int | str | None = None) -> None:
        super().__init__(message.en if isinstance(message, Text) else message)
        self.text = message
        self.ref = ref

    def message(self, language: str) -> str:
        return self.text.in_language(language) if isinstance(self.text, Text) else self.text


def decode_client_frame(text: str) -> ClientFrame:
    """Parse and check one client frame, the inbound text rule (coup/inbound.py) included."""
    try:
        frame = ujson.loads(text)  # ujson refuses nesting beyond 1,024 levels itself
    except (ValueError, TypeError):
        raise FrameError("the frame is not valid JSON", _top_level_ref(text)) from None
    if not isinstance(frame, dict):
        raise FrameError("the frame must be a JSON object")
    ref = frame.get("ref")
    if ref is not None and (isinstance(ref, bool) or not isinstance(ref, int | str)):
        raise FrameError("ref must be an integer or a string")
    if isinstance(ref, str) and len(ref) > 64:
        raise FrameError("ref must be at most 64 characters")
    if isinstance(ref, str) and not inbound.is_encodable(ref):
        # A ref is echoed as written, and this one cannot be written: no reply can carry it.
        raise FrameError("ref holds an unpaired surrogate")
    try:
        for key in frame:
            inbound.check_name(key, "the frame")
        event = frame.get("event")
        if not isinstance(event, str) or not event:
            raise FrameError("event must be a non-empty string", ref)
        inbound.check_name(event, "event")
        data = frame.get("data", {})
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise FrameError("data must be a JSON object", ref)
        data = inbound.clean_json(data, depth=2, where="data")
    except InboundTextError as exc:
        raise FrameError(exc.custom_message or str(exc), ref) from None
    unknown = set(frame) - {"event", "data", "ref"}
    if unknown:
        raise FrameError(f"unknown frame fields: {', '.join(sorted(unknown))}", ref)
    return ClientFrame(event, data, ref)


# A JSON string token or one bracket: what _top_level_ref needs to see of a frame.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _top_level_ref(text: str) -> int | str | None:
    """The `ref` of a frame ujson refused, when the frame is an object whose only fault is
    below its top level (nested too deeply, say), so the refusal can still answer that ref
    (PROTOCOL §2). Every nested value is replaced by null and the rest parsed again; only a
    refused frame pays for this."""
    kept: list[str] = []
    depth = 0
    start = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            if depth == 2:
                kept.append(text[start:token.start()] + "null")
        elif mark in "]}":
            depth -= 1
            if depth == 1:
                start = token.end()
    if depth != 0 or not kept:
        return None
    try:
        frame = ujson.loads("".join(kept) + text[start:])
    except (ValueError, TypeError):
        return None
    ref = frame.get("ref") if isinstance(frame, dict) else None
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        return None
    if isinstance(ref, str) and (len(ref) > 64 or not inbound.is_encodable(ref)):
        return None
    return ref


def ws_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame carrying `payload` (RFC 6455 §5.2)."""
    length = len(payload)
    if length < 126:
        return bytes((_TEXT_FIN, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", _TEXT_FIN, 126, length) + payload
    return struct.pack("!BBQ", _TEXT_FIN, 127, length) + payload


def encode(body: dict[str, Any]) -> bytes:
    return ujson.dumps(body, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8")


def decode(encoded: bytes) -> Any:
    """The value `encode` turned into bytes."""
    return ujson.loads(encoded)


def encode_push(event: str, data: Any) -> bytes:
    """The frame of a server push `{"event", "data"}`."""
    return ws_frame(encode({"event": event, "data": data}))


def encode_reply(ref: int | str, data: Any) -> bytes:
    return ws_frame(encode({"event": "reply", "ref": ref, "ok": True, "data": data}))


def encode_reply_with_raw_list(ref: int | str, data: dict[str, Any], key: str,
                               items: list[bytes]) -> bytes:
    """A success reply whose `data[key]` is a list of already-encoded JSON values, spliced in
    as bytes (a room keeps its recent events encoded: bytes are not tracked by the garbage
    collector, dicts are, and a full collection over them stalls the loop)."""
    text = encode({"event": "reply", "ref": ref, "ok": True, "data": {**data, key: []}})
    suffix = b"[]}}"
    assert text.endswith(suffix), "the spliced key must be the last key of the last object"
    return ws_frame(text[:-len(suffix)] + b"[" + b",".join(items) + b"]}}")


def error_reply_text(ref: int | str, code: str, message: str,
                     retry_after_ms: int | None = None) -> str:
    """A failed reply as JSON text, for a connection that has no SessionActor yet."""
    error: dict[str, Any] = {"code": code, "message": message}
    if retry_after_ms is not None:
        error["retry_after_ms"] = retry_after_ms
    return encode({"event": "reply", "ref": ref, "ok": False, "error": error}).decode("utf-8")


def encode_error_reply(ref: int | str, code: str, message: str,
                       retry_after_ms: int | None = None) -> bytes:
    return ws_frame(error_reply_text(ref, code, message, retry_after_ms).encode("utf-8"))
