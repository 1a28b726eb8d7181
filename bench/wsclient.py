"""A minimal WebSocket client on raw asyncio, cheap enough to drive thousands of sockets.

The load generator must never be the bottleneck, so this client does as little as possible per
received frame: an incremental parser reads only the frame headers and counts text frames.
Payloads are looked at only where a measurement needs them: replies on sending connections
(acknowledgement latency, found by a byte prefix and a regex, not by JSON decoding) and
`chat:new-message` frames on a few sample receivers (delivery latency, from the send timestamp
embedded in the message content). During set-up (hello, study:join) replies are JSON-decoded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

HELLO_PREFIX = b'{"event":"hello"'
REPLY_PREFIX = b'{"event":"reply"'
NEW_MESSAGE_PREFIX = b'{"event":"chat:new-message"'
REPLY_RE = re.compile(rb'\{"event":"reply","ref":(\d+),"ok":(true|false)')
ERROR_CODE_RE = re.compile(rb'"code":"([A-Z_]+)"')
# Message content written by the load generator: "bench:<perf_counter_ns at send>:<padding>".
CONTENT_RE = re.compile(rb'"content":"bench:(\d+):')

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final, masked client frame (RFC 6455 §5.3: every client frame is masked)."""
    length = len(payload)
    mask = os.urandom(4)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    if not length:
        return header + mask
    # XOR the whole payload as one big integer: one C-level operation instead of a byte loop.
    key = (mask * ((length >> 2) + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return header + mask + masked


class WsClient(asyncio.Protocol):
    """One WebSocket connection. Roles (set by the load generator after set-up):

    - `sender`: replies are matched to sent refs; `on_ack(ref, ok, error_code, now_ns)`;
    - `sample`: chat:new-message frames yield a delivery latency into `latencies` (and, when
      `send_times` is a list, the message's send time into it, to find its sender).
    `node` is the node that holds the session, as its `hello` says.
    Every connection counts its text frames in `frames` (replies not included).
    """

    def __init__(self, host: str, port: int, path: str, token: str | None,
                 on_ack: Callable[[int, bool, bytes | None, int], None] | None = None) -> None:
        self.host, self.port, self.path, self.token = host, port, path, token
        self.on_ack = on_ack
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.status: int | None = None
        self.hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.setup = True  # decode replies as JSON and resolve `_waiting` futures
        self.sender = False
        self.sample = False
        self.frames = 0
        self.latencies: list[int] = []
        self.send_times: list[int] | None = None
        self.node: str | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._buf = bytearray()
        self._next_ref = 1_000_000_000  # set-up refs, far from the load generator's refs

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.hello.done():
            self.hello.set_exception(ConnectionError(
                f"closed before hello (HTTP {self.status}, close {self.close_code})"))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[:end + 4]
            try:
                self.status = int(head.split(" ", 2)[1])
            except (IndexError, ValueError):
                self.status = 0
            if self.status != 101:
                if not self.hello.done():
                    self.hello.set_exception(
                        ConnectionError(f"upgrade refused: HTTP {self.status}"))
                self.abort()
                return
            self.upgraded = True
        self._parse(buf)

    # --- frames -------------------------------------------------------------------------------

    def _parse(self, buf: bytearray) -> None:
        now = 0
        pos, size = 0, len(buf)
        sender, sample, setup = self.sender, self.sample, self.setup
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            opcode = buf[pos] & 0x0F
            pos = end
            if opcode == OP_TEXT:
                if setup:
                    self._setup_frame(bytes(buf[start:end]))
                elif sender and buf.startswith(REPLY_PREFIX, start):
                    if not now:
                        now = time.perf_counter_ns()
                    self._reply(buf, start, end, now)
                    continue
                elif sample and buf.startswith(NEW_MESSAGE_PREFIX, start):
                    match = CONTENT_RE.search(buf, start, end)
                    if match is not None:
                        if not now:
                            now = time.perf_counter_ns()
                        sent = int(match.group(1))
                        self.latencies.append(now - sent)
                        if self.send_times is not None:
                            self.send_times.append(sent)
                self.frames += 1
            elif opcode == OP_PING:
                self._write(client_frame(bytes(buf[start:end]), OP_PONG))
            elif opcode == OP_CLOSE:
                self.close_code = (buf[start] << 8 | buf[start + 1]) if length >= 2 else 1005
                self._write(client_frame(bytes(buf[start:start + 2]), OP_CLOSE))
                if self.transport is not None:
                    self.transport.close()
        if pos:
            del buf[:pos]

    def _reply(self, buf: bytearray, start: int, end: int, now: int) -> None:
        match = REPLY_RE.match(buf, start)
        if match is None or self.on_ack is None:
            return
        ok = match.group(2) == b"true"
        code = None
        if not ok:
            found = ERROR_CODE_RE.search(buf, start, end)
            code = found.group(1) if found else b"?"
        self.on_ack(int(match.group(1)), ok, code, now)

    def _setup_frame(self, payload: bytes) -> None:
        if payload.startswith(HELLO_PREFIX):
            if not self.hello.done():
                data = json.loads(payload)["data"]
                self.node = data.get("node")
                self.hello.set_result(data)
        elif payload.startswith(REPLY_PREFIX):
            reply = json.loads(payload)
            future = self._waiting.pop(reply.get("ref"), None)
            if future is not None and not future.done():
                future.set_result(reply)

    # --- sending ------------------------------------------------------------------------------

    def _write(self, frame: bytes) -> None:
        if self.transport is not None:
            self.transport.write(frame)

    def send_text(self, text: str) -> None:
        self._write(client_frame(text.encode()))

    async def request(self, event: str, data: dict[str, Any], timeout: float = 30.0
                      ) -> dict[str, Any]:
        """Send a frame with a ref during set-up and wait for its reply (decoded)."""
        self._next_ref += 1
        ref = self._next_ref
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = future
        self.send_text(json.dumps({"event": event, "data": data, "ref": ref}))
        return await asyncio.wait_for(future, timeout)

    def start_measuring(self, *, sender: bool, sample: bool, rcvlowat: int = 1) -> None:
        """Leave set-up mode. `rcvlowat` > 1 lets a connection that only counts frames be
        woken once per `rcvlowat` bytes instead of once per frame (SO_RCVLOWAT): the server
        still sends every frame on its own, the load generator just reads them in batches."""
        self.setup = False
        self.sender, self.sample = sender, sample
        self.set_rcvlowat(rcvlowat)

    def set_rcvlowat(self, size: int) -> None:
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)

    def close(self, code: int = 1000) -> None:
        if self.transport is not None:
            self._write(client_frame(struct.pack("!H", code), OP_CLOSE))
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def alive(self) -> bool:
        return self.transport is not None and not self.closed.done()


async def open_client(host: str, port: int, path: str, token: str | None, *,
                      local_host: str | None = None, timeout: float = 30.0,
                      on_ack: Callable[[int, bool, bytes | None, int], None] | None = None,
                      ) -> WsClient:
    """Connect, upgrade and wait for the server's first frame (`hello`)."""
    loop = asyncio.get_running_loop()
    local_addr = (local_host, 0) if local_host else None
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: WsClient(host, port, path, token, on_ack), host, port,
                               local_addr=local_addr),
        timeout)
    try:
        await asyncio.wait_for(asyncio.shield(client.hello), timeout)
    except BaseException:
        client.abort()
        raise
    return client
