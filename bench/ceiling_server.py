"""The ceiling: a minimal raw-Tornado broadcast server (in memory, no auth, no database).

It speaks just enough of CoUp's protocol for the load generator to drive it exactly like CoUp:
a `hello` frame on open, `study:join` (or a room in the path, `/ws/<room>`), `chat:message`
(broadcast as `chat:new-message`, then a reply to the sender) and `ping`. Each message is
JSON-decoded once, its push frame is encoded ONCE (an unmasked RFC 6455 text frame built here,
like coup/protocol.py `ws_frame`) and the same bytes are written to every socket's stream.
No bounded queues, no persistence, no rate limits: it is what the hardware and Tornado allow.

    python -m bench.ceiling_server --port 8123
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import signal
import struct
from datetime import UTC, datetime
from typing import Any

import tornado.httpserver
import tornado.web
import tornado.websocket
import ujson
from tornado.iostream import StreamClosedError

_ids = itertools.count(1)


def ws_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame carrying `payload` (RFC 6455 §5.2)."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


def encode(body: dict[str, Any]) -> bytes:
    return ws_frame(ujson.dumps(body, ensure_ascii=False,
                                escape_forward_slashes=False).encode("utf-8"))


class Room:
    __slots__ = ("members", "seq")

    def __init__(self) -> None:
        self.members: dict[int, Socket] = {}
        self.seq = 0


ROOMS: dict[str, Room] = {}


class Socket(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def get_compression_options(self) -> None:
        return None

    def open(self, room: str | None = None) -> None:
        self.set_nodelay(True)
        self.stream = self.ws_connection.stream  # type: ignore[union-attr]
        self.uid = next(_ids)
        self.user = {"id": f"u{self.uid}", "name": f"user{self.uid}", "avatar": None}
        self.joined: list[Room] = []
        if room:
            self._join(room)
        self.write_frame(encode({"event": "hello", "data": {
            "session_id": f"s{self.uid}", "user": self.user, "node": "ceiling",
            "heartbeat_ms": 25000, "limits": {}, "unread_notifications": 0}}))

    def write_frame(self, frame: bytes) -> None:
        # try/except, not contextlib.suppress: this runs once per delivery.
        try:  # noqa: SIM105
            self.stream.write(frame)
        except StreamClosedError:
            pass

    def _join(self, study_id: str) -> Room:
        room = ROOMS.get(study_id)
        if room is None:
            room = ROOMS[study_id] = Room()
        room.members[self.uid] = self
        self.joined.append(room)
        return room

    def _reply(self, ref: Any, data: Any) -> None:
        if ref is not None:
            self.write_frame(encode({"event": "reply", "ref": ref, "ok": True, "data": data}))

    def on_message(self, message: str | bytes) -> None:
        frame = ujson.loads(message)
        event, ref = frame.get("event"), frame.get("ref")
        data = frame.get("data") or {}
        if event == "chat:message":
            study_id = data["study_id"]
            room = ROOMS.get(study_id) or self._join(study_id)
            room.seq += 1
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            view = {"id": f"m{room.seq}", "client_id": data.get("client_id"),
                    "study_id": study_id, "seq": room.seq, "user": self.user,
                    "content": data.get("content"), "file": None, "created_at": now,
                    "updated_at": now, "edited": False}
            push = encode({"event": "chat:new-message",
                           "data": {"study_id": study_id, "seq": room.seq, "message": view}})
            for member in room.members.values():  # encode once, write many
                member.write_frame(push)
            self._reply(ref, {"message": view, "seq": room.seq})
        elif event == "study:join":
            room = self._join(data["study_id"])
            self._reply(ref, {"study_id": data["study_id"], "seq": room.seq, "online": [],
                              "call": None, "missed": [], "recovered": True})
        elif event == "ping":
            self._reply(ref, {"server_time": 0})
        else:
            self._reply(ref, {})

    def on_close(self) -> None:
        for room in self.joined:
            room.members.pop(self.uid, None)
        self.joined = []


async def serve(host: str, port: int) -> None:
    app = tornado.web.Application([(r"/ws", Socket), (r"/ws/(.+)", Socket)])
    server = tornado.httpserver.HTTPServer(app)
    server.listen(port, host)  # default backlog, as CoUp
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ceiling listening on http://{host}:{port}", flush=True)
    await stop.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
