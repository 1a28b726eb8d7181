"""PROTOCOL §3 liveness: the node pings every connection each heartbeat and closes the ones that
did not answer within 2 x heartbeat_ms (coup/actors/heartbeat.py)."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

from coup.actors.heartbeat import Heartbeat
from tests.conftest import Api, LiveServer
from tests.wsclient import RawWs, WsClient

INTERVAL = 1.0


def beat(server: LiveServer) -> int:
    heartbeat = server.services.realtime.registry.heartbeat

    async def one_beat() -> int:
        return await heartbeat.beat(asyncio.get_running_loop().time())

    return server.call(one_beat())


def test_a_silent_peer_is_closed_and_a_live_one_is_kept(api: Api, server: LiveServer) -> None:
    heartbeat = server.services.realtime.registry.heartbeat
    saved = heartbeat.interval
    heartbeat.interval = INTERVAL  # beats are driven by hand below, at this spacing
    live_user, silent_user = api.signup(name="살아있음"), api.signup(name="조용함")
    live = WsClient.open(server, live_user.token)  # the websockets client answers pings
    # A client that completes the upgrade and then answers nothing: what the server sees of
    # a phone that lost its network without a FIN.
    silent = RawWs(server, silent_user.token)
    try:
        hello = next(silent.frames())
        assert hello[0] == 0x1 and b'"hello"' in hello[1]
        # Beats by hand, a little more than one interval apart, as the loop would run them.
        assert beat(server) == 0  # both were heard from just now: both pinged
        time.sleep(1.2 * INTERVAL)
        assert beat(server) == 0  # the silent one has not answered for less than 2 beats
        time.sleep(1.2 * INTERVAL)
        # The silent one missed two pings; the live one answered the last one.
        assert beat(server) == 1
        frames = []
        for frame in silent.frames(timeout=5):
            frames.append(frame)
            if frame[0] == 0x8:
                break
        assert [opcode for opcode, _ in frames] == [0x9, 0x9, 0x8]  # two pings, no answer
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

    def send_ping(self) -> None:
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
        # Wait for the beats rather than a fixed time: a loaded CI worker may run the loop late,
        # and the property is that it beats again and again with nobody asking.
        deadline = asyncio.get_running_loop().time() + 10
        while answering.pings < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await heartbeat.stop()
        return answering, dead

    answering, dead = asyncio.run(scenario())
    assert answering.pings >= 3 and answering.closed_with is None
    assert dead.closed_with == (1000, "heartbeat timeout")
