"""A small synchronous WebSocket client for tests, speaking the CoUp protocol."""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import APP_ORIGIN, LiveServer


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
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if origin is not None:
            headers["Origin"] = origin
        if cookie is not None:
            headers["Cookie"] = f"coup_session={cookie}"
        url = server.base_url.replace("http://", "ws://") + "/ws"
        conn = connect(url, additional_headers=headers, open_timeout=10, max_size=None,
                       origin=None, compression=None, legacy=True)
        client = cls(conn)
        if expect_hello:
            client.hello = client.expect("hello")
        return client

    @classmethod
    def browser(cls, server: LiveServer, cookie: str) -> WsClient:
        return cls.open(server, origin=APP_ORIGIN, cookie=cookie)

    def send(self, event: str, data: dict[str, Any] | None = None, ref: Any = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data or {}}
        if ref is not None:
            frame["ref"] = ref
        self.conn.send(json.dumps(frame))

    def send_raw(self, text: str | bytes) -> None:
        self.conn.send(text)

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

    def reply(self, ref: Any, timeout: float = 10) -> dict[str, Any]:
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

    def events(self, event: str) -> list[dict[str, Any]]:
        return [f["data"] for f in self.drain() if f.get("event") == event]

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
