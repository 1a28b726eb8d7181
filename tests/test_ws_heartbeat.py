"""PROTOCOL §3 liveness: the node pings every connection each heartbeat and closes the ones that
did not answer within 2 x heartbeat_ms (coup/actors/heartbeat.py)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
from typing import Any

from coup.actors.heartbeat import Heartbeat
from tests.conftest import Api, LiveServer
from tests.wsclient import WsClient

INTERVAL = 1.0


class SilentPeer:
    """A WebSocket client that completes the upgrade and then never answers anything: what the
    server sees of a phone that lost its network without a FIN."""

    def __init__(self, server: LiveServer, token: str) -> None:
        host, port = server.base_url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.hello = self._next_frame(10)
        assert self.hello[0] == 0x1 and b'"hello"' in self.hello[1]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the TCP connection")
        return chunk

    def frames_until_close(self, timeout: float) -> list[tuple[int, bytes]]:
        """Read (opcode, payload) frames, without answering any, up to the close frame."""
        frames: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames.append(self._next_frame(deadline - time.monotonic()))
            if frames[-1][0] == 0x8:
                return frames
        raise AssertionError(f"no close frame within {timeout} s; got {frames}")

    def _next_frame(self, timeout: float) -> tuple[int, bytes]:
        self.sock.settimeout(max(timeout, 0.01))
        while (frame := self._parse()) is None:
            self.buffer += self._recv()
        return frame

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
        self.sock.close()


def beat(server: LiveServer) -> int:
    heartbeat = server.node.registry.heartbeat

    async def one_beat() -> int:
        return await heartbeat.beat(asyncio.get_running_loop().time())

    return server.call(one_beat())


def test_a_silent_peer_is_closed_and_a_live_one_is_kept(api: Api, server: LiveServer) -> None:
    heartbeat = server.node.registry.heartbeat
    saved = heartbeat.interval
    heartbeat.interval = INTERVAL  # beats are driven by hand below, at this spacing
    live_user, silent_user = api.signup(name="살아있음"), api.signup(name="조용함")
    live = WsClient.open(server, live_user.token)  # the websockets client answers pings
    silent = SilentPeer(server, silent_user.token)
    try:
        # Beats by hand, a little more than one interval apart, as the loop would run them.
        assert beat(server) == 0  # both were heard from just now: both pinged
        time.sleep(1.2 * INTERVAL)
        assert beat(server) == 0  # the silent one has not answered for less than 2 beats
        time.sleep(1.2 * INTERVAL)
        # The silent one missed two pings; the live one answered the last one.
        assert beat(server) == 1
        frames = silent.frames_until_close(5)
        assert [opcode for opcode, _ in frames[:-1]] == [0x9, 0x9]  # two pings, no answer
        code = struct.unpack("!H", frames[-1][1][:2])[0]
        assert code == 1000 and frames[-1][1][2:] == b"heartbeat timeout"
        assert live.ok("ping")["server_time"] > 0  # the live connection stays open
    finally:
        heartbeat.interval = saved
        live.close()
        silent.close()


class FakeConnection:
    def __init__(self, heard_at: float) -> None:
        self.heard_at = heard_at
        self.pings = 0
        self.closed_with: tuple[Any, ...] | None = None

    def ping(self) -> None:
        self.pings += 1
        self.heard_at = asyncio.get_running_loop().time()  # answers at once

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.closed_with = (code, reason)


def test_the_loop_beats_every_interval_by_itself() -> None:
    async def scenario() -> tuple[FakeConnection, FakeConnection]:
        now = asyncio.get_running_loop().time()
        answering, dead = FakeConnection(now), FakeConnection(now - 10)
        heartbeat = Heartbeat(0.05, lambda: [answering, dead])
        heartbeat.start()
        await asyncio.sleep(0.28)
        await heartbeat.stop()
        return answering, dead

    answering, dead = asyncio.run(scenario())
    assert answering.pings >= 3 and answering.closed_with is None
    assert dead.closed_with == (1000, "heartbeat timeout")
