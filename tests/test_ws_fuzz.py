"""Property test: arbitrary frames never crash a connection or the server.

Hypothesis feeds one connection arbitrary text, arbitrary JSON objects with real and junk event
names, and random data shapes. After each batch the connection must still answer a `ping`
(unless the server closed it with a listed close code), no reply or error may say INTERNAL,
and every frame with a usable ref is answered exactly once.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from coup.actors.session import FRAME_HANDLERS
from tests.conftest import Api, LiveServer
from tests.wsclient import LISTED_CLOSE_CODES, WsClient

REAL_EVENTS = sorted(FRAME_HANDLERS)
JUNK_EVENTS = ["", "chat", "chat:", "CHAT:MESSAGE", "video:", "study:join ", "reply", "error",
               "hello", "ping\x00", "notification:new", "🙂"]
FIELDS = ["study_id", "since", "content", "client_id", "file_id", "message_id", "seq",
          "is_typing", "status", "notification_id", "all", "to", "sdp", "candidate", "muted",
          "off", "sharing", "speaking", "message", "token"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


class Target:
    """The ids a frame may use to reach real state (set once per backend)."""

    study_id = ""
    session_id = ""


def field_value(name: str) -> st.SearchStrategy[Any]:
    special: list[st.SearchStrategy[Any]] = [json_values]
    if name in ("study_id",):
        special.append(st.builds(lambda: Target.study_id))
    if name == "to":
        special.append(st.builds(lambda: Target.session_id))
    if name in ("since", "seq"):
        special.append(st.integers(0, 10))
    if name in ("is_typing", "all", "muted", "off", "sharing", "speaking"):
        special.append(st.booleans())
    if name == "status":
        special.append(st.sampled_from(["online", "away", "busy"]))
    if name == "client_id":
        special.append(st.uuids().map(str))
    return st.one_of(*special)


data_objects = st.dictionaries(st.sampled_from(FIELDS), st.just(None), max_size=6).flatmap(
    lambda keys: st.fixed_dictionaries({k: field_value(k) for k in keys}))

refs = st.one_of(st.just("unique-int"), st.just("unique-str"), st.none(),
                 st.sampled_from([True, 1.5, {"x": 1}, [2], "r" * 65]))

json_frames = st.fixed_dictionaries(
    {"event": st.sampled_from(REAL_EVENTS) | st.sampled_from(JUNK_EVENTS) | json_values,
     "data": data_objects | json_values, "ref": refs},
    optional={"extra": json_values},
)

frames = st.one_of(
    json_frames,
    st.text(max_size=200),
    st.builds(lambda n: "{" * n, st.integers(1, 50)),
    json_values.map(json.dumps),
)

_refs = itertools.count(1)
_connection: dict[str, WsClient] = {}


def connection(server: LiveServer, token: str) -> WsClient:
    ws = _connection.get(server.base_url)
    if ws is None:
        ws = _connection[server.base_url] = WsClient.open(server, token)
        ws.ok("study:join", {"study_id": Target.study_id})
        Target.session_id = ws.session_id
    return ws


def encode(frame: Any, pending: set[Any]) -> str:
    if not isinstance(frame, dict):
        return frame
    frame = dict(frame)
    if frame.get("ref") == "unique-int":
        frame["ref"] = next(_refs)
    elif frame.get("ref") == "unique-str":
        frame["ref"] = f"s{next(_refs)}"
    elif frame.get("ref") is None:
        del frame["ref"]
    ref = frame.get("ref")
    if (isinstance(ref, int) and not isinstance(ref, bool)) or (isinstance(ref, str) and \
            len(ref) <= 64):
        pending.add(ref)
    return json.dumps(frame)


def check_batch(ws: WsClient, batch: list[Any]) -> int | None:
    """Send the batch, then a ping; returns the close code if the server closed."""
    pending: set[Any] = set()
    answered: list[Any] = []
    try:
        for frame in batch:
            ws.send_raw(encode(frame, pending))
        ping_ref = f"ping{next(_refs)}"
        ws.send("ping", {}, ref=ping_ref)
        deadline = time.monotonic() + 10
        got_ping = False
        while not got_ping or set(answered) < pending:
            frame = ws._receive(deadline)
            assert (frame.get("error") or {}).get("code") != "INTERNAL", frame
            assert (frame.get("data") or {}).get("code") != "INTERNAL", frame
            if frame.get("event") == "reply":
                if frame["ref"] == ping_ref:
                    got_ping = frame["ok"] is True
                    assert got_ping, frame
                else:
                    answered.append(frame["ref"])
                    assert frame["ref"] in pending, frame
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else None
        assert code in LISTED_CLOSE_CODES, code
        return code
    assert len(answered) == len(set(answered)), answered  # each ref exactly once
    return None


_tokens: dict[str, tuple[str, str]] = {}


@pytest.fixture()
def fuzz_token(api: Api, server: LiveServer) -> str:
    """A user and a study per backend, made before Hypothesis draws its first frame."""
    if server.base_url not in _tokens:
        owner = api.signup(name="퍼저")
        _tokens[server.base_url] = (owner.token, api.create_study(owner)["id"])
    token, Target.study_id = _tokens[server.base_url]
    return token


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(batch=st.lists(frames, min_size=1, max_size=6))
def test_arbitrary_frames_never_break_the_connection(server: LiveServer, fuzz_token: str,
                                                     batch: list[Any]) -> None:
    ws = connection(server, fuzz_token)
    code = check_batch(ws, batch)
    event(f"closed {code}" if code else "still open")
    if code is not None:
        ws.close()
        del _connection[server.base_url]
        time.sleep(0.05)


def test_the_server_still_serves_after_fuzzing(api: Api, server: LiveServer) -> None:
    for ws in _connection.values():
        ws.close()
    _connection.clear()
    with WsClient.open(server, api.signup().token) as ws:
        assert ws.ok("ping")["server_time"] > 0
