"""The one inbound text rule: every string that enters the server passes here first.

REST JSON bodies (`parse_json_body`), query and path arguments (`decode_text`, called by
ApiHandler.decode_argument), multipart field values (`decode_text`) and WebSocket frames
(`clean_json`, called by coup.protocol.decode_client_frame) are checked where they are decoded,
so no handler can forget it:

- **valid UTF-8**: bytes are decoded strictly, never with replacement characters;
- **no unpaired surrogates**: JSON may spell one as an escape (`"\\udfff"`); the string parses
  but cannot be encoded again, so it would fail later in the database driver, a reply's
  encoder or a whole group commit. It is refused here;
- **no NUL**: removed from string values. COUP.md §1 item 9 and PROTOCOL §5 already remove
  control characters from text (and tests expect `"a\\x00b"` to be stored as `"ab"`), and
  PostgreSQL cannot store a NUL at all; removing it here keeps that promise for every field,
  also those without a text rule of their own. A NUL in a *name* (an object key or a frame's
  event) is refused instead: names are vocabulary, not text, and removing it could turn one
  key into another;
- **finite numbers**: `1e400` parses as infinity (the WebSocket parser also takes NaN and
  Infinity), which no column, comparison or encoder handles;
- **bounded nesting**: at most MAX_NESTING levels of objects and arrays.

A value that breaks the rule raises InboundTextError (BAD_REQUEST on both transports).
"""

from __future__ import annotations

import json
import math
from typing import Any

from coup.errors import BadRequest, InboundTextError, Text

# The deepest body or frame the API defines is about four levels (a report's evidence object,
# an SDP or ICE candidate object inside a frame's data). 32 leaves ample room for clients
# while every recursive walk after parsing (this one, validation, the sanitiser, the JSON
# encoders, Python's own recursion limit of ~1,000) stays far from its limit.
MAX_NESTING = 32

NOT_JSON = Text("본문이 올바른 JSON이 아닙니다.", "The body is not valid UTF-8 JSON.")
TOO_DEEP = Text(f"JSON은 {MAX_NESTING}단계까지만 중첩할 수 있습니다.",
                f"JSON may be nested at most {MAX_NESTING} levels deep.")


class _Refusal(Exception):
    """Raised inside the walk; `path` collects the keys on the way out (innermost first)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str | int] = []


def _message(reason: str, where: str) -> Text:
    if reason == "surrogate":
        return Text(f"{where}에 짝이 없는 서로게이트 문자가 있습니다(올바른 유니코드가 아님).",
                    f"{where} holds an unpaired surrogate, which is not valid Unicode.")
    if reason == "nul-name":
        return Text(f"{where}: 이름에 NUL 문자를 쓸 수 없습니다.",
                    f"{where}: a name may not contain NUL.")
    if reason == "number":
        return Text(f"{where}: 숫자가 표현할 수 있는 범위를 벗어났습니다.",
                    f"{where}: the number is not finite.")
    if reason == "utf-8":
        return Text(f"{where}이(가) 올바른 UTF-8이 아닙니다.", f"{where} is not valid UTF-8.")
    return TOO_DEEP


def _located(refusal: _Refusal, root: str) -> InboundTextError:
    """The error for a refusal, naming where it was (`data.sdp`, `tags[2]`, COUP.md §1 item 6)."""
    where = root
    for step in reversed(refusal.path):
        if isinstance(step, int):
            where += f"[{step}]"
        else:
            where = f"{where}.{step}" if where else step
    return InboundTextError(message=_message(refusal.reason, where or "the body"))


# --- the walk -------------------------------------------------------------------------------


def _text(value: str) -> str:
    if not value.isascii():  # ASCII cannot hold a surrogate; skip the encode for it
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refusal("surrogate") from None
    return value.replace("\x00", "") if "\x00" in value else value


def _name(value: str) -> None:
    if "\x00" in value:
        raise _Refusal("nul-name")
    _text(value)


def _walk(value: Any, depth: int) -> Any:
    """`value` with NUL removed from its strings (containers are changed in place)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Refusal("number")
        return value
    if isinstance(value, dict):
        if depth > MAX_NESTING:
            raise _Refusal("depth")
        for key, item in value.items():
            _name(key)  # a bad key is reported at its object: the key itself cannot be shown
            try:
                cleaned = _walk(item, depth + 1)
            except _Refusal as refusal:
                if refusal.reason != "depth":
                    refusal.path.append(key)
                raise
            if cleaned is not item:
                value[key] = cleaned  # same key: safe while iterating
        return value
    if isinstance(value, list):
        if depth > MAX_NESTING:
            raise _Refusal("depth")
        for index, item in enumerate(value):
            try:
                cleaned = _walk(item, depth + 1)
            except _Refusal as refusal:
                if refusal.reason != "depth":
                    refusal.path.append(index)
                raise
            if cleaned is not item:
                value[index] = cleaned
        return value
    return value  # None, bool, int


# --- entry points ---------------------------------------------------------------------------


def clean_json(value: Any, *, depth: int = 1, where: str = "") -> Any:
    """A parsed JSON value that obeys the rule (NUL removed); `depth` is the level `value`
    sits at (a frame's `data` is at 2), `where` names it in the error."""
    try:
        return _walk(value, depth)
    except _Refusal as refusal:
        raise _located(refusal, where) from None


def check_name(value: str, where: str) -> None:
    """A name (such as a frame's event) must hold no NUL and no unpaired surrogate."""
    try:
        _name(value)
    except _Refusal as refusal:
        raise InboundTextError(message=_message(refusal.reason, where)) from None


def is_encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_text(raw: bytes, where: str) -> str:
    """Bytes from a query string, a path or a multipart field, as text that obeys the rule.

    Strict UTF-8 decoding also refuses encoded surrogates (ED A0 80 - ED BF BF)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InboundTextError(message=_message("utf-8", where)) from None
    return text.replace("\x00", "") if "\x00" in text else text


def parse_json_body(raw: bytes) -> Any:
    """A REST body: strict UTF-8, strict JSON (no NaN or Infinity), then the rule."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InboundTextError(message=_message("utf-8", "the body")) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # nesting far beyond MAX_NESTING exhausts the parser's stack
        raise InboundTextError(message=TOO_DEEP) from None
    except ValueError:
        raise BadRequest(message=NOT_JSON) from None
    return clean_json(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
