"""Hostile input on every REST operation and every WebSocket event (issue 10, "Close the
classes"): lone surrogates, NUL, 10,000-character strings, huge and negative numbers, extreme
dates, 1,000 (and 5,000) levels of nesting and wrong types, one field at a time in an otherwise
valid request, several at once, and whole hostile bodies and frames.

REST: every operation of the served OpenAPI document, with path ids that exist (a study the
caller owns, its message, notice, event, task, file, group, invite, notification, session) and
the caller that reaches the deepest code (owner, applicant, member, a user who owns nothing),
so the bodies reach the handlers' validation and the code behind it. No answer may be a 5xx,
and no request may make the server log an error. Operations that can end the session or
remove shared rows get a world of their own.

WebSocket: every event of PROTOCOL.md, from a member joined to four study rooms and to A's call
(with a peer in it, the target of the relays), so frames reach the rooms, the call and the
group commit. Every frame with a ref gets exactly one reply, never INTERNAL; normal chat
messages sent around a hostile one (the one before it holds a group commit open, so the hostile
one shares the next with messages of other studies) are still accepted; no room stops; frames
before authentication are answered as docs/protocol.md §11 says.

After each operation and event the same user still gets normal answers (GET /api/users/me, a
chat message over REST and over a new connection). Each case first runs a fixed sweep
(`@example`s: each catalogued hostile value in each field), then a fixed number of generated
cases (derandomized, so a CI run is repeatable). Every mishandled input of a case is collected
and reported together, grouped by cause with the server's traceback, rather than stopping at
the first; COUP_HOSTILE_REPORT=<file> also writes them as JSON lines.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from coup.actors.session import FRAME_HANDLERS
from coup.app import ROUTES
from coup.openapi import build_openapi
from tests.authorization_support import Clients, create_study_row
from tests.conftest import APP_ORIGIN, LiveServer
from tests.files_support import PNG
from tests.hostile_support import (
    DEEP_LIST,
    DEEP_OBJECT,
    DEEPER_LIST,
    HOSTILE_FILE_NAMES,
    HOSTILE_KEYS,
    HOSTILE_PART_BYTES,
    HOSTILE_PATH_VALUES,
    LONG_CHARS,
    Finding,
    Findings,
    HostileWorld,
    Part,
    Raw,
    ServerLog,
    describe,
    encode_json,
    field_paths,
    generic_value,
    hostile_bodies,
    hostile_field_values,
    hostile_query_text,
    hostile_query_values,
    hostile_values,
    is_date_like,
    is_destructive,
    multipart,
    path_label,
    with_value,
)
from tests.openapi_support import OPENAPI_URL, ensure_openapi_route
from tests.wsclient import WsClient, chat_limit

# Generated cases per operation or event, after its fixed sweep; the whole file stays within
# about a minute per backend on two cores.
GENERATED_PER_CASE = 8
REQUEST_TIMEOUT_SECONDS = 30
# The chat rate limit is lifted while hostile messages are sent, so each one reaches the room
# and its group commit instead of stopping at RATE_LIMITED.
UNLIMITED_CHAT = 1_000_000
DOCUMENT = build_openapi(ROUTES)
OPERATIONS = [pytest.param(path, method.upper(), id=f"{method.upper()} {path}")
              for path, item in DOCUMENT["paths"].items() for method in item]


def hypothesis_settings() -> settings:
    # No shrinking: every case records what it found and the run goes on.
    return settings(max_examples=GENERATED_PER_CASE, deadline=None, database=None,
                    derandomize=True, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


# --- per-backend state -----------------------------------------------------------------------


@dataclass
class Backend:
    """What one backend's cases share: the served document, the shared world, the log."""

    server: LiveServer
    clients: Clients
    document: dict[str, Any]
    shared: HostileWorld
    log: ServerLog
    prober: Prober | None = None

    def world_for(self, method: str, path: str) -> HostileWorld:
        if is_destructive(method, path):
            return HostileWorld(self.server, self.clients)
        return self.shared

    def still_serves(self, target: str, findings: Findings) -> None:
        """The shared world's owner can still read their profile and post a chat message."""
        mark = self.log.mark()
        owner = self.shared.owner.http
        me = owner.get("/api/users/me")
        posted = owner.post(f"/api/studies/{self.shared.study_id}/chat",
                            json={"content": "정상 메시지", "client_id": str(uuid.uuid4())})
        if me.status_code != 200 or posted.status_code != 201:
            findings.add(Finding(target, "after the run", "GET /api/users/me + POST chat",
                                 f"{me.status_code}/{posted.status_code}: {posted.text[:200]}",
                                 self.log.since(mark)))


_backends: dict[str, Backend] = {}


@pytest.fixture(scope="module")
def server_log() -> Iterator[ServerLog]:
    with ServerLog() as log:
        yield log
    # Open sockets would hold up the session-wide server's shutdown (it drains them).
    for backend in _backends.values():
        if backend.prober is not None:
            backend.prober.close()
            if backend.prober.world.peer is not None:
                backend.prober.world.peer.close()
        backend.clients.close()
    _backends.clear()


@pytest.fixture()
def hostile(server: LiveServer, server_log: ServerLog) -> Backend:
    if server.base_url not in _backends:
        ensure_openapi_route(server)
        clients = Clients(server)
        document = clients.client().get(OPENAPI_URL).json()
        _backends[server.base_url] = Backend(server, clients, document,
                                             HostileWorld(server, clients), server_log)
    return _backends[server.base_url]


# --- REST ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """One hostile change to an otherwise valid request."""

    where: str  # path, query, body, fields (several body fields), whole (body bytes), part
    name: str
    value: Any

    def label(self) -> str:
        return f"{self.where}:{self.name}"


class RestPlan:
    """The valid request of one operation and the hostile changes made to it."""

    def __init__(self, world: HostileWorld, method: str, path: str,
                 operation: dict[str, Any]) -> None:
        self.world, self.method, self.path = world, method, path
        self.http = world.caller(method, path)
        params = operation.get("parameters", [])
        self.path_params = [p["name"] for p in params if p["in"] == "path"]
        self.query_params = [(p["name"], p) for p in params if p["in"] == "query"]
        content = (operation.get("requestBody") or {}).get("content", {})
        self.json_schema = content.get("application/json", {}).get("schema")
        self.multipart = "multipart/form-data" in content
        self.fields = field_paths(self.json_schema) if self.json_schema else []

    def base(self) -> dict[str, Any]:
        return self.world.base_body(self.method, self.path, self.json_schema)

    def sweep(self) -> list[Mutation]:
        """Each hostile value of the catalogue in each field, then whole hostile bodies."""
        found = [Mutation("path", name, value) for name in self.path_params
                 for value in HOSTILE_PATH_VALUES]
        found += [Mutation("query", name, value) for name, param in self.query_params
                  for value in hostile_query_values(is_date_like(name, param["schema"]))]
        if self.json_schema is not None:
            base = self.base()
            for path, schema in self.fields:
                current = _value_at(base, path)
                if current is None:  # a null default: sweep it as the type it may also be
                    current = generic_value(str(path[-1]), {**schema, "enum": []})
                found += [Mutation("body", path_label(path), value)
                          for value in hostile_field_values(current, is_date_like(
                              str(path[-1]), schema))]
            found += [Mutation("body", key, "\udfff") for key in HOSTILE_KEYS]
            found += [Mutation("whole", label, raw) for label, raw in hostile_bodies(base)]
        if self.multipart:
            found += [Mutation("part", "file.filename", name) for name in HOSTILE_FILE_NAMES]
            found += [Mutation("part", part, value) for part in ("folder", "category",
                                                                 "file.content_type")
                      for value in HOSTILE_PART_BYTES]
            found += [Mutation("part", "part name", value) for value in HOSTILE_PART_BYTES[:2]]
            found += [Mutation("part", "file.content", b""),
                      Mutation("whole", "not multipart", b"\xff" * 64)]
        return found

    def generated(self) -> st.SearchStrategy[Mutation]:
        """Hostile values drawn by Hypothesis, in one field or in several at once."""
        options: list[st.SearchStrategy[Mutation]] = []
        names = [path_label(path) for path, _ in self.fields]
        if names:
            options.append(st.builds(Mutation, st.just("body"), st.sampled_from(names),
                                     hostile_values))
        if len(names) > 1:
            options.append(st.builds(Mutation, st.just("fields"), st.just("several"),
                                     st.dictionaries(st.sampled_from(names), hostile_values,
                                                     min_size=2, max_size=4)))
        queries = [name for name, _ in self.query_params] or ["unexpected"]
        options.append(st.builds(Mutation, st.just("query"), st.sampled_from(queries),
                                 hostile_query_text))
        if self.json_schema is not None or self.multipart:
            options.append(st.builds(Mutation, st.just("whole"), st.just("generated"),
                                     hostile_values.map(lambda v: encode_json(v).encode())))
        return st.one_of(*options)

    # the request -----------------------------------------------------------------------------

    def url(self, mutation: Mutation) -> str:
        path = self.path
        for name in self.path_params:
            value = mutation.value if mutation.where == "path" and mutation.name == name \
                else self.world.path_id(name, self.path)
            path = path.replace("{" + name + "}", value)
        query = {name: self.required_query(name) for name, param in self.query_params
                 if param.get("required")}
        if mutation.where == "query":
            query[mutation.name] = mutation.value
        return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")

    def required_query(self, name: str) -> str:
        return {"q": "%EA%B7%B8%EB%A3%B9", "user_id": self.world.made("group_member"),
                "invite_id": self.world.made("invite_id")}.get(name, "1")

    def body(self, mutation: Mutation) -> tuple[bytes | None, str | None]:
        if mutation.where == "whole":
            kind = "multipart/form-data; boundary=x" if self.multipart else "application/json"
            return mutation.value, kind
        if self.multipart:
            return self.multipart_body(mutation)
        if self.json_schema is None:
            return None, None
        body = self.base()
        if mutation.where == "body":
            body = with_value(body, _path_of(mutation.name), mutation.value)
        elif mutation.where == "fields":
            for name, value in mutation.value.items():
                body = with_value(body, _path_of(name), value)
        return encode_json(body).encode(), "application/json"

    def multipart_body(self, mutation: Mutation) -> tuple[bytes, str]:
        avatar = self.path.endswith("/avatar")
        file = {"filename": b"avatar.png" if avatar else b"notes.txt",
                "content": PNG + bytes(2048) if avatar else "스터디 노트".encode(),
                "content_type": b"image/png" if avatar else b"text/plain"}
        fields = {} if avatar else {"folder": "자료".encode(), "category": b"DOCUMENT"}
        if mutation.where == "part" and mutation.name == "part name":
            fields[mutation.value.decode("utf-8", "surrogateescape")] = b"x"
        elif mutation.where == "part":
            if mutation.name.startswith("file."):
                file[mutation.name.removeprefix("file.")] = mutation.value
            else:
                fields[mutation.name] = mutation.value
        parts = [Part(b"file", file["content"], file["filename"], file["content_type"])]
        parts += [Part(name.encode("utf-8", "surrogateescape"), value)
                  for name, value in fields.items()]
        return multipart(parts)

    def run(self, mutation: Mutation, backend: Backend, findings: Findings) -> None:
        target = f"{self.method} {self.path}"
        mark = backend.log.mark()
        content, content_type = self.body(mutation)
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            response = self.http.request(self.method, self.url(mutation), content=content,
                                         headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            findings.add(Finding(target, mutation.label(), describe(mutation.value),
                                 f"no answer: {type(exc).__name__}: {exc}",
                                 backend.log.since(mark)))
            return
        logged = backend.log.since(mark)
        if response.status_code >= 500:
            findings.add(Finding(target, mutation.label(), describe(mutation.value),
                                 f"{response.status_code}: {response.text[:160]}", logged))
        elif logged:  # answered, but something behind the answer failed (an actor, a task)
            findings.add(Finding(target, mutation.label(), describe(mutation.value),
                                 f"{response.status_code}, and the server logged an error",
                                 logged))


def _value_at(body: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(part, int):
            body = body[0] if isinstance(body, list) and body else None
        else:
            body = body.get(part) if isinstance(body, dict) else None
    return body


def _path_of(label: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in label.split("."))


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_no_operation_answers_hostile_input_with_a_server_error(
        hostile: Backend, path: str, method: str) -> None:
    backend = hostile
    operation = backend.document["paths"][path][method.lower()]
    plan = RestPlan(backend.world_for(method, path), method, path, operation)
    findings = Findings()

    @hypothesis_settings()
    @given(mutation=plan.generated())
    def run(mutation: Mutation) -> None:
        plan.run(mutation, backend, findings)

    for mutation in plan.sweep():
        run = example(mutation=mutation)(run)
    with chat_limit(backend.server, UNLIMITED_CHAT):
        run()
        backend.still_serves(f"{method} {path}", findings)
    findings.check()


# --- WebSocket -------------------------------------------------------------------------------

# PROTOCOL §9 closes a connection at 100 frames/s and at 20 bad frames in 10 s; the prober stays
# under both (sliding windows) and opens a fresh connection before the bad-frame limit.
FRAMES_PER_SECOND_SENT = 90
BAD_FRAMES_PER_CONNECTION = 15
BAD_FRAME_WINDOW_SECONDS = 10.0
# How long to wait for a reply once the frames sent after the hostile one were answered.
REPLY_GRACE_SECONDS = 0.5
REPLY_TIMEOUT_SECONDS = 10.0
REPLY_ALONE_SECONDS = 2.0
# Events the session hands to the room without waiting: a room-routed frame follows them.
ROOM_RELAYED = frozenset({"video:offer", "video:answer", "video:ice-candidate",
                          "chat:video-message"})
# Events that may take the prober out of a room or the call: joined again afterwards.
LEAVING = frozenset({"study:join", "study:leave", "video:join-room", "video:leave-room"})
WS_EVENTS = sorted(FRAME_HANDLERS)


@dataclass
class WsWorld:
    """A member of four studies, with a peer in A's room and call. A gets the hostile
    frames; around a hostile chat message, B gets a message just before it (so its group
    commit is running and the hostile one waits for the next, with C's), and C and A a
    message just after it. D gets the join and leave frames."""

    token: str
    study_a: str
    study_b: str
    study_c: str
    study_d: str
    message_id: str
    deletable_id: str
    file_id: str
    notification_id: str
    server: LiveServer
    peer_token: str
    peer: WsClient | None = None

    def open_peer(self) -> WsClient:
        """The other member, joined to A's room and call (the target of the relays)."""
        self.peer = WsClient.open(self.server, self.peer_token)
        self.peer.ok("study:join", {"study_id": self.study_a})
        self.peer.ok("video:join-room", {"study_id": self.study_a})
        return self.peer

    def base_data(self, event: str) -> dict[str, Any]:
        a, d = self.study_a, self.study_d
        to = (self.peer or self.open_peer()).session_id
        sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\n"
        candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}
        data: dict[str, dict[str, Any]] = {
            "ping": {}, "auth": {"token": self.token},
            "study:join": {"study_id": d, "since": 0}, "study:leave": {"study_id": d},
            "chat:message": {"study_id": a, "content": "안녕하세요 여러분",
                             "client_id": str(uuid.uuid4()), "file_id": self.file_id},
            "chat:edit": {"study_id": a, "message_id": self.message_id,
                          "content": "고친 메시지"},
            "chat:delete": {"study_id": a, "message_id": self.deletable_id},
            "chat:read": {"study_id": a, "seq": 1},
            "chat:typing": {"study_id": a, "is_typing": True},
            "presence:status-change": {"status": "away"},
            "notification:read": {"notification_id": self.notification_id, "all": False},
            "video:join-room": {"study_id": a}, "video:leave-room": {"study_id": a},
            "video:offer": {"study_id": a, "to": to, "sdp": sdp},
            "video:answer": {"study_id": a, "to": to, "sdp": sdp},
            "video:ice-candidate": {"study_id": a, "to": to, "candidate": candidate},
            "video:toggle-audio": {"study_id": a, "muted": False},
            "video:toggle-video": {"study_id": a, "off": False},
            "video:screen-share": {"study_id": a, "sharing": False},
            "video:speaking": {"study_id": a, "speaking": False},
            "chat:video-message": {"study_id": a, "message": "화면 보이시나요?"},
        }
        return data[event]


def make_ws_world(server: LiveServer, world: HostileWorld) -> WsWorld:
    owner, http = world.owner, world.owner.http
    study = f"/api/studies/{world.study_id}"

    def posted(content: str) -> str:
        response = http.post(f"{study}/chat", json={"content": content})
        assert response.status_code == 201, response.text
        return response.json()["data"]["id"]

    b, c, d = (server.call(create_study_row(owner.id, True, True))  # type: ignore[arg-type]
               for _ in range(3))
    return WsWorld(owner.token, world.study_id, b, c, d, posted("고칠 메시지"),
                   posted("지울 메시지"), world.made("file_id"), world.made("notification_id"),
                   server, world.user("member").token)


@dataclass
class Sent:
    """A frame whose answer is awaited: its ref and what counts as its answer."""

    ref: Any
    must_succeed: bool = False  # a canary or sentinel: any failure is a finding


class Prober:
    """The member's connection: sends one hostile frame and the frames that follow it, and
    judges the answers. It opens a fresh connection before the bad-frame limit would close it,
    and after the server closed one."""

    def __init__(self, server: LiveServer, world: WsWorld, log: ServerLog) -> None:
        self.server, self.world, self.log = server, world, log
        self.ws: WsClient | None = None
        self.sent_at: deque[float] = deque()
        self.bad_at: deque[float] = deque()
        self.refs = itertools.count(1)
        self.last_push = ""

    def connection(self) -> WsClient:
        now = time.monotonic()
        while self.bad_at and now - self.bad_at[0] > BAD_FRAME_WINDOW_SECONDS:
            self.bad_at.popleft()
        if self.ws is not None and len(self.bad_at) >= BAD_FRAMES_PER_CONNECTION:
            self.close()
        if self.ws is None:
            self.ws = WsClient.open(self.server, self.world.token)
            self.bad_at.clear()
            self.rejoin()
        return self.ws

    def rejoin(self) -> None:
        ws = self.ws
        assert ws is not None
        world = self.world
        for event, study in (("study:join", world.study_a), ("study:join", world.study_b),
                             ("study:join", world.study_c), ("video:join-room", world.study_a)):
            ref = f"j{next(self.refs)}"
            self.send(json.dumps({"event": event, "data": {"study_id": study}, "ref": ref}))
            reply = ws.reply(ref)
            assert reply["ok"] is True, reply

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def send(self, text: str | bytes) -> None:
        # Stay under the per-connection frame rate (a fixed window on the server side).
        while len(self.sent_at) >= FRAMES_PER_SECOND_SENT:
            wait = 1.0 - (time.monotonic() - self.sent_at[0])
            if wait <= 0:
                self.sent_at.popleft()
            else:
                time.sleep(wait)
        self.sent_at.append(time.monotonic())
        assert self.ws is not None
        if isinstance(text, bytes):  # bytes that are meant to be a (bad) text frame
            self.ws.conn.send(text, text=True)
        else:
            self.ws.send_raw(text)

    def escort(self, event: str, answer: str
               ) -> tuple[list[tuple[str, Sent]], list[tuple[str, Sent]]]:
        """The normal frames sent before and after the hostile one. Around a chat message:
        messages in B before it and in C and A after it (one bad message must not fail its
        neighbours in a group commit). After a relay: a room-routed toggle (the session does
        not wait for the room). After a frame without a usable ref: a ping. Otherwise
        nothing: the hostile frame's reply comes straight back."""

        def frame(name: str, data: dict[str, Any]) -> tuple[str, Sent]:
            ref = f"f{next(self.refs)}"
            return (json.dumps({"event": name, "data": data, "ref": ref}),
                    Sent(ref, must_succeed=True))

        def message(study: str) -> tuple[str, Sent]:
            return frame("chat:message", {"study_id": study, "content": "정상 메시지",
                                          "client_id": str(uuid.uuid4())})

        if event == "chat:message":
            return [message(self.world.study_b)], [message(self.world.study_c),
                                                   message(self.world.study_a)]
        if event in ROOM_RELAYED:
            return [], [frame("video:speaking", {"study_id": self.world.study_a,
                                                 "speaking": False})]
        return [], [frame("ping", {})] if answer != "reply" else []

    def probe(self, target: str, label: str, value: Any, frame: str | bytes, ref: Any,
              findings: Findings, event: str = "ping", answer: str = "reply",
              allowed_close: frozenset[int | None] = frozenset()) -> None:
        """Send one hostile frame and its escort, and judge the answers. `answer` is what
        PROTOCOL §2 promises for it: "reply" (a reply with its ref), "push" (an error push:
        no usable ref), "either" (a ref the server may refuse as unusable)."""
        mark = self.log.mark()
        problems: list[str] = []
        try:
            ws = self.connection()
            before, after = self.escort(event, answer)
            for text, _ in before:
                self.send(text)
            self.send(frame)
            for text, _ in after:
                self.send(text)
            answers = self.collect(ws, [s for _, s in before + after], ref, problems)
            replies, pushes = answers.get("reply", 0), answers.get("push", 0)
            if answer == "reply" and (replies, pushes) != (1, 0):
                problems.append(f"{replies} replies and {pushes} error pushes for ref "
                                f"{describe(ref)} (want exactly one reply)"
                                + (f"; the push said {self.last_push!r}" if pushes else ""))
            elif answer == "push" and (replies, pushes) != (0, 1):
                problems.append(f"{pushes} error pushes (want exactly one)")
            elif answer == "either" and replies + pushes != 1:
                problems.append(f"{replies} replies and {pushes} error pushes (want one)")
            if event in LEAVING:
                self.rejoin()
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            if code not in allowed_close:
                reason = closed.rcvd.reason if closed.rcvd else ""
                problems.append(f"connection closed ({code} {reason})".strip())
            self.ws = None
        except TimeoutError:
            problems.append("no answer to the frames sent after it")
            self.close()
        self.drain_peer(problems)
        logged = self.log.since(mark)
        if logged and not problems:
            problems.append("answered, and the server logged an error")
        if problems:
            findings.add(Finding(target, label, describe(value), "; ".join(problems), logged))

    def collect(self, ws: WsClient, follow: list[Sent], ref: Any,
                problems: list[str]) -> dict[str, int]:
        """Read until the escort is answered and the hostile frame is, or its time is up:
        a short grace once the frames after it (which it precedes through the session and the
        room) are answered, or REPLY_ALONE_SECONDS when nothing follows it."""
        waiting = {sent.ref: sent for sent in follow}
        answers: dict[str, int] = {}
        now = time.monotonic()
        deadline = now + (REPLY_TIMEOUT_SECONDS if follow else REPLY_ALONE_SECONDS)
        while waiting or not answers:
            if not waiting and follow:
                deadline = min(deadline, time.monotonic() + REPLY_GRACE_SECONDS)
            try:
                frame = ws._receive(deadline)
            except TimeoutError:
                if waiting:
                    raise
                return answers
            self.judge_frame(frame, problems)
            if frame.get("event") == "reply":
                if frame.get("ref") in waiting:
                    sent = waiting.pop(frame["ref"])
                    if sent.must_succeed and frame.get("ok") is not True:
                        problems.append(f"a normal frame sent after it failed: {frame}")
                elif frame.get("ref") == ref:
                    answers["reply"] = answers.get("reply", 0) + 1
            elif frame.get("event") == "error":
                answers["push"] = answers.get("push", 0) + 1
                self.last_push = str((frame.get("data") or {}).get("message"))[:120]
        return answers

    def judge_frame(self, frame: dict[str, Any], problems: list[str],
                    count_bad: bool = True) -> None:
        error = frame.get("error") or (frame.get("data") if frame.get("event") == "error"
                                       else None) or {}
        if count_bad and error.get("code") == "BAD_REQUEST":
            self.bad_at.append(time.monotonic())
        if error.get("code") == "INTERNAL":
            problems.append(f"INTERNAL: {error.get('message')}")
        if frame.get("event") == "study:rejoin":
            problems.append(f"a room stopped (study:rejoin {frame.get('data')})")

    def drain_peer(self, problems: list[str]) -> None:
        """Read what the peer in the call was sent (relays, new messages), so its queue stays
        short; it must never be told INTERNAL or to rejoin."""
        peer = self.world.peer or self.world.open_peer()
        while True:
            try:
                frame = json.loads(peer.conn.recv(timeout=0))
            except TimeoutError:
                return
            except ConnectionClosed as closed:
                problems.append(f"the peer's connection closed ({closed.rcvd})")
                self.world.open_peer()
                return
            self.judge_frame(frame, problems, count_bad=False)


@dataclass(frozen=True)
class FrameMutation:
    """One hostile change to an event's valid data."""

    where: str  # data (one field), fields (several), key (a hostile key), whole (the data)
    name: str
    value: Any


def event_sweep(base: dict[str, Any]) -> list[FrameMutation]:
    found = [FrameMutation("data", name, value) for name in base
             for value in hostile_field_values(base[name], date_like=False)]
    # An unknown field is ignored, but its value is decoded and checked all the same.
    found += [FrameMutation("data", "extra", value) for value in ("\udfff", "a\x00b", 1e308)]
    found += [FrameMutation("key", key, "\udfff") for key in HOSTILE_KEYS]
    wholes = [DEEP_OBJECT, DEEP_LIST, DEEPER_LIST, "\udfff", [], 2**64,
              {k: "\udfff" for k in base} or {"a": "\udfff"},
              {k: "\x00" for k in base} or {"a": "\x00"}]
    return found + [FrameMutation("whole", "data", value) for value in wholes]


def event_generated(base: dict[str, Any]) -> st.SearchStrategy[FrameMutation]:
    names = [*base, "extra", "other"]
    return st.one_of(
        st.builds(FrameMutation, st.just("data"), st.sampled_from(names), hostile_values),
        st.builds(FrameMutation, st.just("fields"), st.just("several"),
                  st.dictionaries(st.sampled_from(names), hostile_values, min_size=2,
                                  max_size=4)),
        st.builds(FrameMutation, st.just("whole"), st.just("data"), hostile_values))


def event_frame(event: str, base: dict[str, Any], mutation: FrameMutation, ref: int) -> str:
    data: Any = dict(base)
    if mutation.where == "data":
        data[mutation.name] = mutation.value
    elif mutation.where == "fields":
        data.update(mutation.value)
    elif mutation.where == "key":
        data[mutation.name] = mutation.value
    else:
        data = mutation.value
    return encode_json({"event": event, "data": data, "ref": ref})


def ws_prober(backend: Backend) -> Prober:
    if backend.prober is None:
        with chat_limit(backend.server, UNLIMITED_CHAT):
            world = make_ws_world(backend.server, backend.shared)
        backend.prober = Prober(backend.server, world, backend.log)
    return backend.prober


def normal_session_works(backend: Backend, prober: Prober, target: str,
                         findings: Findings) -> None:
    """After the hostile frames the member still chats over a new connection and over REST."""
    prober.close()
    mark = backend.log.mark()
    try:
        ws = prober.connection()
        reply = ws.request("chat:message", {"study_id": prober.world.study_a,
                                            "content": "다시 정상 메시지",
                                            "client_id": str(uuid.uuid4())})
        problem = None if reply.get("ok") is True else f"chat:message after the run: {reply}"
    except (ConnectionClosed, TimeoutError) as exc:
        problem = f"chat:message after the run: {type(exc).__name__}"
    if problem:
        findings.add(Finding(target, "after the run", "a normal chat:message", problem,
                             backend.log.since(mark)))
    backend.still_serves(target, findings)


@pytest.mark.parametrize("event", WS_EVENTS)
def test_every_event_answers_hostile_data_once_and_never_internal(
        hostile: Backend, event: str) -> None:
    prober = ws_prober(hostile)
    findings = Findings()
    target = f"ws {event}"

    @hypothesis_settings()
    @given(mutation=event_generated(prober.world.base_data(event)))
    def run(mutation: FrameMutation) -> None:
        ref = next(prober.refs)
        frame = event_frame(event, prober.world.base_data(event), mutation, ref)
        prober.probe(target, f"{mutation.where}:{mutation.name}", mutation.value, frame, ref,
                     findings, event=event)

    for mutation in event_sweep(prober.world.base_data(event)):
        run = example(mutation=mutation)(run)
    with chat_limit(hostile.server, UNLIMITED_CHAT):
        run()
        normal_session_works(hostile, prober, target, findings)
    findings.check()


# Frames hostile outside `data`: the ref, the event name, the frame itself.
USABLE_REFS = ["a\x00b", "x" * 64, 2**64, -(2**63) - 1, 2**53 + 1, 0]
UNUSABLE_REFS = ["r" * 65, "x" * LONG_CHARS, 1e308, True, DEEP_LIST, {"\udfff": 1}, []]
HOSTILE_EVENT_NAMES = ["\udfff", "chat:message\x00", "x" * LONG_CHARS, DEEP_LIST, 2**64, "",
                       None]
HOSTILE_FRAMES = [DEEP_OBJECT, DEEP_LIST, "\udfff", None, Raw('{"event":'), Raw("NaN"),
                  Raw("\x00"), Raw('{"event": "ping", "data": {}, "\\udfff": 1}')]


@dataclass(frozen=True)
class HostileFrame:
    label: str
    value: Any
    ref: Any  # None: the frame has no usable ref
    answer: str  # what PROTOCOL §2 promises: reply, push or either
    text: str | bytes

    @staticmethod
    def with_ref(ref: Any, answer: str) -> HostileFrame:
        return HostileFrame("ref", ref, ref, answer,
                            encode_json({"event": "ping", "data": {}, "ref": ref}))

    @staticmethod
    def with_event(name: Any, ref: int) -> HostileFrame:
        return HostileFrame("event", name, ref, "reply",
                            encode_json({"event": name, "data": {}, "ref": ref}))

    @staticmethod
    def whole(value: Any) -> HostileFrame:
        return HostileFrame("frame", value, None, "push", encode_json(value))


def frame_sweep() -> list[HostileFrame]:
    found = [HostileFrame.with_ref(ref, "reply") for ref in USABLE_REFS]
    found.append(HostileFrame.with_ref("\udfff", "either"))
    found += [HostileFrame.with_ref(ref, "push") for ref in UNUSABLE_REFS]
    found += [HostileFrame.with_event(name, 900_000 + index)
              for index, name in enumerate(HOSTILE_EVENT_NAMES)]
    found += [HostileFrame.whole(value) for value in HOSTILE_FRAMES]
    # Not UTF-8 at all (PROTOCOL §2: text frames are UTF-8). RFC 6455 §8.1 fails such a
    # connection: close 1007, or (§7.1.7) a close without a close frame.
    found.append(HostileFrame("frame", b"\xed\xbf\xbf", None, "push",
                              b'{"event": "ping", "data": {"x": "\xed\xbf\xbf"}}'))
    return found


generated_frames = st.one_of(
    hostile_values.map(HostileFrame.whole),
    st.builds(lambda event, data, ref: HostileFrame(
        "frame", data, ref, "reply", encode_json({"event": event, "data": data, "ref": ref})),
        st.sampled_from(WS_EVENTS), hostile_values.filter(lambda v: isinstance(v, dict)),
        st.integers(10**6, 10**7)))


def test_hostile_frames_are_answered_once_and_never_internal(hostile: Backend) -> None:
    prober = ws_prober(hostile)
    findings = Findings()

    @hypothesis_settings()
    @given(frame=generated_frames)
    def run(frame: HostileFrame) -> None:
        event = "ping"
        if frame.label == "frame" and frame.ref is not None:
            event = json.loads(frame.text)["event"]
        prober.probe("ws frame", frame.label, frame.value, frame.text, frame.ref, findings,
                     event=event, answer=frame.answer,
                     allowed_close=frozenset({1007, None}) if isinstance(frame.text, bytes)
                     else frozenset())

    for frame in frame_sweep():
        run = example(frame=frame)(run)
    with chat_limit(hostile.server, UNLIMITED_CHAT):
        run()
        normal_session_works(hostile, prober, "ws frame", findings)
    findings.check()


# Before authentication (PROTOCOL §1, docs/protocol.md §11): a frame with a ref is answered
# (UNAUTHORIZED, BAD_REQUEST) and any other is ignored; an `auth` frame whose token is not valid
# closes the connection with 4001. Otherwise the connection still takes a valid `auth` frame.
AUTH_CLOSE = 4001


@dataclass(frozen=True)
class PreAuthFrame:
    label: str
    value: Any
    text: str
    ref: Any  # None: no ref the server can use, so nothing needs to answer it


def auth_frame(value: Any) -> PreAuthFrame:
    return PreAuthFrame("auth token", value, encode_json(
        {"event": "auth", "data": {"token": value}, "ref": 7}), 7)


def pre_auth_sweep(token: str) -> list[PreAuthFrame]:
    found = [auth_frame(value) for value in hostile_field_values(token, date_like=False)]
    found += [PreAuthFrame("auth data", value, encode_json(
        {"event": "auth", "data": value, "ref": 8}), 8)
        for value in (DEEP_OBJECT, DEEPER_LIST, "\udfff")]
    found += [PreAuthFrame("other event", value, encode_json(
        {"event": "chat:message", "data": value, "ref": 9}), 9)
        for value in ({"content": "\udfff"}, {"\udfff": "\x00"}, DEEP_OBJECT)]
    found += [PreAuthFrame("ref", ref, encode_json({"event": "ping", "ref": ref}), ref)
              for ref in ("a\x00b", 2**64)]
    found.append(PreAuthFrame("ref", "\udfff", encode_json({"event": "ping", "ref": "\udfff"}),
                              None))
    found += [PreAuthFrame("frame", value, encode_json(value), None) for value in HOSTILE_FRAMES]
    # A bad token and, before its close arrives, a valid one: the close stands.
    found.append(PreAuthFrame("then a valid token", "not-a-token", encode_json(
        {"event": "auth", "data": {"token": "not-a-token"}, "ref": 6}), 6))
    return found


def read_until(ws: WsClient, done: Any, frames: list[dict[str, Any]]) -> int | None:
    """Read frames until `done(frames)`; the close code if the server closed first (0: it
    neither closed nor answered in time)."""
    deadline = time.monotonic() + REPLY_ALONE_SECONDS
    try:
        while not done(frames):
            frames.append(ws._receive(deadline))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return 0
    return -1


def pre_auth_probe(backend: Backend, token: str, case: PreAuthFrame,
                   findings: Findings) -> None:
    mark = backend.log.mark()
    problems: list[str] = []
    frames: list[dict[str, Any]] = []
    valid_auth = json.dumps({"event": "auth", "data": {"token": token}, "ref": "ok"})
    ws = WsClient.open(backend.server, origin=APP_ORIGIN, expect_hello=False)
    try:
        ws.send_raw(case.text)
        if case.label == "then a valid token":  # pipelined: the close is already decided
            ws.send_raw(valid_auth)
        code: int | None = -1
        if case.ref is not None:
            code = read_until(ws, lambda got: any(
                f.get("event") == "reply" and f.get("ref") == case.ref for f in got), frames)
        refused = any((f.get("error") or {}).get("code") == "UNAUTHORIZED" for f in frames
                      if f.get("ref") == case.ref)
        if code == -1 and case.label in ("auth token", "then a valid token") and refused:
            code = read_until(ws, lambda got: False, frames)  # the 4001 close follows
        if code == -1:  # still open: it must take a valid auth frame
            with contextlib.suppress(ConnectionClosed):  # read_until reports the close
                ws.send_raw(valid_auth)
            code = read_until(ws, lambda got: any(f.get("ref") == "ok" for f in got), frames)
            if code != -1 or not any(f.get("event") == "hello" for f in frames):
                problems.append(f"a valid auth frame after it got no hello (close {code})")
        elif code != AUTH_CLOSE or not refused:
            problems.append(f"closed with {code}" if code else "no answer in time")
    finally:
        ws.close()
    errors = [f.get("error") or {} for f in frames if f.get("event") == "reply"]
    if any(error.get("code") == "INTERNAL" for error in errors):
        problems.append(f"INTERNAL: {errors}")
    if case.ref is not None:
        answers = sum(1 for f in frames if f.get("event") == "reply" and f.get("ref") == case.ref)
        if answers != 1:
            problems.append(f"{answers} replies for ref {describe(case.ref)} (want one)")
    logged = backend.log.since(mark)
    if logged and not problems:
        problems.append("answered, and the server logged an error")
    if problems:
        findings.add(Finding("ws before auth", case.label, describe(case.value),
                             "; ".join(problems), logged))


def test_hostile_frames_before_authentication_are_answered_and_refused(
        hostile: Backend) -> None:
    token = hostile.shared.owner.token
    findings = Findings()

    @hypothesis_settings()
    @given(case=hostile_values.map(auth_frame))
    def run(case: PreAuthFrame) -> None:
        pre_auth_probe(hostile, token, case, findings)

    for case in pre_auth_sweep(token):
        run = example(case=case)(run)
    run()
    findings.check()
