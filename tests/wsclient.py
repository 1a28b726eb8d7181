"""A small synchronous WebSocket client for tests, speaking the CoUp protocol, and the few
helpers the realtime tests share (settings overrides, database fixtures)."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import socket
import struct
import time
import uuid
from collections import deque
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import File, Message, Notification, Study, StudyEvent, User
from coup.store.models import Session as LoginSession
from tests.conftest import APP_ORIGIN, Api, LiveServer, override_limit, override_node_settings
from tests.conftest import User as TestUser

# Close codes a test may see; anything else is a surprise.
LISTED_CLOSE_CODES = frozenset({1000, 1001, 1003, 1008, 1009, 1011, 1013, 4001, 4029})


class WsClient:
    """One connection: `request()` sends a frame with a ref and returns its reply; pushes that
    arrive meanwhile are kept in order for `expect()` / `events()`."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.pushes: deque[dict[str, Any]] = deque()
        self._refs = itertools.count(1)
        self.hello: dict[str, Any] | None = None

    @classmethod
    def open(cls, server: LiveServer, token: str | None = None, *, origin: str | None = None,
             cookie: str | None = None, expect_hello: bool = True) -> WsClient:
        conn = connect(ws_url(server), additional_headers=_headers(token, origin, cookie),
                       open_timeout=10, max_size=None, max_queue=None, origin=None,
                       compression=None, proxy=None, legacy=True)
        client = cls(conn)
        if expect_hello:
            client.hello = client.expect("hello")
        return client

    @classmethod
    def browser(cls, server: LiveServer, cookie: str) -> WsClient:
        return cls.open(server, origin=APP_ORIGIN, cookie=cookie)

    @property
    def session_id(self) -> str:
        assert self.hello is not None
        return self.hello["session_id"]

    def send(self, event: str, data: dict[str, Any] | None = None, ref: Any = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data or {}}
        if ref is not None:
            frame["ref"] = ref
        self.conn.send(json.dumps(frame))

    def send_raw(self, text: str | bytes) -> None:
        self.conn.send(text)

    def send_until_closed(self, event: str, data: dict[str, Any] | None,
                          refs: Any) -> int:
        """Send one frame per ref until the server closes the connection; how many were
        sent (a flood the server is expected to cut off)."""
        sent = 0
        try:
            for ref in refs:
                self.send(event, data, ref)
                sent += 1
        except ConnectionClosed:
            pass
        return sent

    def next_ref(self) -> int:
        return next(self._refs)

    def request(self, event: str, data: dict[str, Any] | None = None,
                timeout: float = 10) -> dict[str, Any]:
        """Send with a fresh ref and return the whole reply frame."""
        ref = next(self._refs)
        self.send(event, data, ref)
        return self.reply(ref, timeout)

    def ok(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = self.request(event, data)
        assert reply["ok"] is True, reply
        return reply["data"]

    def fail(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a frame that must be refused; returns the reply's `error` object."""
        reply = self.request(event, data)
        assert reply["ok"] is False, reply
        return reply["error"]

    def reply(self, ref: Any, timeout: float = 10) -> dict[str, Any]:
        for index, frame in enumerate(self.pushes):
            if frame.get("event") == "reply" and frame.get("ref") == ref:
                del self.pushes[index]
                return frame
        deadline = time.monotonic() + timeout
        while True:
            frame = self._receive(deadline)
            if frame.get("event") == "reply" and frame.get("ref") == ref:
                return frame
            self.pushes.append(frame)

    def expect(self, event: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        """The next push named `event` (whose data includes `match`); earlier ones are kept."""
        for index, frame in enumerate(self.pushes):
            if _matches(frame, event, match):
                del self.pushes[index]
                return frame["data"]
        deadline = time.monotonic() + timeout
        while True:
            frame = self._receive(deadline)
            if _matches(frame, event, match):
                return frame["data"]
            self.pushes.append(frame)

    def drain(self, duration: float = 0.2) -> list[dict[str, Any]]:
        """Collect everything that arrives in the next `duration` seconds."""
        deadline = time.monotonic() + duration
        try:
            while True:
                self.pushes.append(self._receive(deadline))
        except TimeoutError:
            pass
        frames = list(self.pushes)
        self.pushes.clear()
        return frames

    def events(self, event: str, duration: float = 0.2) -> list[dict[str, Any]]:
        return [f["data"] for f in self.drain(duration) if f.get("event") == event]

    def collect(self, event: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next `count` pushes named `event`, in arrival order."""
        return [self.expect(event, timeout) for _ in range(count)]

    def closed_with(self, timeout: float = 10) -> int | None:
        """Read until the server closes; the close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.conn.recv(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return None
        return None

    def frames_until_close(self, timeout: float = 10) -> tuple[list[dict[str, Any]], int | None]:
        """Every frame (stored pushes first) until the server closes, and the close code
        (None when it did not close in time)."""
        frames = list(self.pushes)
        self.pushes.clear()
        deadline = time.monotonic() + timeout
        try:
            while True:
                frames.append(self._receive(deadline))
        except ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return frames, None

    def close(self) -> None:
        self.conn.close()

    def _receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no frame in time")
        return json.loads(self.conn.recv(timeout=remaining))

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _matches(frame: dict[str, Any], event: str, match: dict[str, Any]) -> bool:
    if frame.get("event") != event:
        return False
    data = frame.get("data") or {}
    return all(data.get(key) == value for key, value in match.items())


def _headers(token: str | None, origin: str | None, cookie: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    if cookie is not None:
        headers["Cookie"] = f"coup_session={cookie}"
    return headers


def ws_url(server: LiveServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/ws"


def refused_status(server: LiveServer, token: str | None = None, *, origin: str | None = None,
                   cookie: str | None = None) -> tuple[int, dict[str, Any]]:
    """Try an upgrade that must be refused; the HTTP status and the JSON body."""
    try:
        conn = connect(ws_url(server), additional_headers=_headers(token, origin, cookie),
                       open_timeout=10, origin=None, compression=None, proxy=None)
    except InvalidStatus as refused:
        response = refused.response
        body = json.loads(response.body.decode()) if response.body else {}
        return response.status_code, body
    conn.close()
    raise AssertionError("the upgrade was accepted")


def new_client_id() -> str:
    return str(uuid.uuid4())


def member_of(api: Api, study: dict[str, Any], name: str = "멤버") -> TestUser:
    """A new user who joined `study` (an open study: ACTIVE at once)."""
    user = api.signup(name=name)
    assert api.join(user, study["id"]).status_code == 201
    return user


def say(ws: WsClient, study_id: str, content: str, client_id: str | None = None
        ) -> dict[str, Any]:
    """Send one chat message and return the ack data ({message, seq})."""
    return ws.ok("chat:message", {"study_id": study_id, "content": content,
                                  "client_id": client_id or new_client_id()})


# --- settings overrides ---------------------------------------------------------------------


@contextlib.contextmanager
def override_settings(server: LiveServer, **changes: Any) -> Iterator[None]:
    """Replace the node's settings for the duration of a test (held once: the handlers, the
    registry and its sessions all read them from the node's status).

    Rooms copy the settings when they start, so use a fresh study inside the block."""
    with override_node_settings(server, **changes):
        yield


@contextlib.contextmanager
def chat_limit(server: LiveServer, count: int, window_seconds: float = 10.0) -> Iterator[None]:
    """Give the shared chat limit (REST + WebSocket) another budget."""
    with override_limit(server, "chat", count, window_seconds):
        yield


def passivate_idle_rooms(server: LiveServer) -> list[str]:
    """Stop every room that has no session, so the next join starts from the database."""
    registry = server.services.realtime.registry
    assert registry is not None
    return server.call(registry.collect_garbage(idle_seconds=0))


def passivate_room(server: LiveServer, study_id: str, timeout: float = 5) -> None:
    """Wait until the study's room is idle and stop it (patch the reconnect grace short
    first: a pending offline timer keeps a room alive)."""
    registry = server.services.realtime.registry
    assert registry is not None
    deadline = time.monotonic() + timeout
    while registry.active_room(study_id) is not None:
        passivate_idle_rooms(server)
        if registry.active_room(study_id) is None:
            break
        assert time.monotonic() < deadline, "the room did not become idle"
        time.sleep(0.05)


# --- database fixtures (run on the server's DB workers) ---------------------------------------


@db_transaction
def _update_row(model_name: str, row_id: str, changes: dict[str, Any]) -> int:
    model = {"Study": Study, "User": User, "Session": LoginSession}[model_name]
    return model.update(**changes).where(model.id == row_id).execute()


def set_study_status(server: LiveServer, study_id: str, status: str) -> None:
    changes: dict[str, Any] = {"status": status}
    if status == "CLOSED":
        changes["closed_at"] = utcnow()
    server.call(_update_row("Study", study_id, changes))


def restrict_user(server: LiveServer, user_id: str, actions: list[str],
                  minutes: int = 60) -> None:
    server.call(_update_row("User", user_id, {
        "restricted_actions": actions,
        "restricted_until": utcnow() + timedelta(minutes=minutes)}))


def set_user_status(server: LiveServer, user_id: str, status: str) -> None:
    changes: dict[str, Any] = {"status": status}
    if status == "SUSPENDED":
        changes["suspended_until"] = utcnow() + timedelta(days=1)
        changes["suspend_reason"] = "테스트"
    if status == "DELETED":
        changes["deleted_at"] = utcnow()
    server.call(_update_row("User", user_id, changes))


@db_transaction
def _expire_sessions(user_id: str) -> int:
    return LoginSession.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        LoginSession.user == user_id).execute()


def expire_sessions(server: LiveServer, user_id: str) -> None:
    server.call(_expire_sessions(user_id))


@db_transaction
def _insert_events(study_id: str, count: int) -> tuple[int, int]:
    study = Study.get_by_id(study_id)
    first = study.last_seq + 1
    now = utcnow()
    rows = [{"study": study_id, "seq": seq, "type": "notice:deleted",
             "payload": {"study_id": study_id, "seq": seq, "notice_id": f"n{seq}"},
             "created_at": now} for seq in range(first, first + count)]
    for start in range(0, len(rows), 200):
        StudyEvent.insert_many(rows[start:start + 200]).execute()
    Study.update(last_seq=Study.last_seq + count).where(Study.id == study_id).execute()
    return first, first + count - 1


def insert_events(server: LiveServer, study_id: str, count: int) -> tuple[int, int]:
    """Append `count` durable events straight into the database (no room is told); returns the
    first and last seq."""
    return server.call(_insert_events(study_id, count))


@db_transaction
def _create_file(study_id: str, uploader_id: str, name: str) -> str:
    return File.create(id=new_id(), study=study_id, uploader=uploader_id, name=name, size=5,
                       type="text/plain", category="DOCUMENT", storage_key=f"test/{new_id()}",
                       created_at=utcnow()).id


def create_file(server: LiveServer, study_id: str, uploader_id: str,
                name: str = "notes.txt") -> str:
    return server.call(_create_file(study_id, uploader_id, name))


@db_task
def _messages(study_id: str) -> list[dict[str, Any]]:
    return list(Message.select(Message.id, Message.client_id, Message.seq, Message.content,
                               Message.deleted_at, Message.user)
                .where(Message.study == study_id).order_by(Message.seq).dicts())


def messages_in_db(server: LiveServer, study_id: str) -> list[dict[str, Any]]:
    return server.call(_messages(study_id))


@db_task
def _last_seq(study_id: str) -> int:
    return int(Study.select(Study.last_seq).where(Study.id == study_id).scalar() or 0)


def study_head(server: LiveServer, study_id: str) -> int:
    """The study's last_seq in the database."""
    return server.call(_last_seq(study_id))


@db_task
def _events(study_id: str) -> list[tuple[int, str]]:
    return [(row.seq, row.type) for row in StudyEvent.select(StudyEvent.seq, StudyEvent.type)
            .where(StudyEvent.study == study_id).order_by(StudyEvent.seq)]


def events_in_db(server: LiveServer, study_id: str) -> list[tuple[int, str]]:
    return server.call(_events(study_id))


@db_task
def _notifications(user_id: str, kind: str | None) -> list[dict[str, Any]]:
    query = Notification.select().where(Notification.user == user_id)
    if kind is not None:
        query = query.where(Notification.type == kind)
    return list(query.order_by(Notification.created_at).dicts())


def notifications_of(server: LiveServer, user_id: str,
                     kind: str | None = None) -> list[dict[str, Any]]:
    return server.call(_notifications(user_id, kind))


# --- a raw socket client that can refuse to read -----------------------------------------------


class RawWs:
    """A hand-made WebSocket client on a plain socket with a tiny receive buffer. It reads only
    when asked, so it can play a client that stopped reading (a slow consumer)."""

    def __init__(self, server: LiveServer, token: str, receive_buffer: int = 4096) -> None:
        host, port = server.base_url.removeprefix("http://").split(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(status.decode())

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = bytes((0x81, 0x80 | length))
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def frames(self, timeout: float = 10) -> Iterator[tuple[int, bytes]]:
        """(opcode, payload) of each frame the server sent, until the socket closes."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse()
            if frame is not None:
                yield frame
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return
            if not chunk:
                return
            self.buffer += chunk

    def read_until_close(self, timeout: float = 10) -> tuple[int | None, list[dict[str, Any]]]:
        """Read everything the server sent: the close code and the text frames before it."""
        texts: list[dict[str, Any]] = []
        for opcode, payload in self.frames(timeout):
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, texts
            if opcode == 0x1:
                texts.append(json.loads(payload))
        return None, texts

    def _parse(self) -> tuple[int, bytes] | None:
        data = self.buffer
        if len(data) < 2:
            return None
        opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                return None
            length, offset = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, offset = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < offset + length:
            return None
        self.buffer = data[offset + length:]
        return opcode, data[offset:offset + length]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
