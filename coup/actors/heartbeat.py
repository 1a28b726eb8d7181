"""Liveness of this node's WebSockets (PROTOCOL §3): one loop pings every connection.

Every `heartbeat_ms` the loop sends a ping frame to each authenticated connection and closes
the ones that have not been heard from (a pong or any frame) since the ping two beats ago,
so a dead peer is dropped within 2 x heartbeat_ms of the ping it did not answer.

One loop for the node rather than Tornado's ping task per connection: an idle connection then
carries no task, coroutine and timer of its own (about 1.5 KB each, bench scenario c), and the
pings go out in slices that yield to the event loop, so a beat over 10,000 sockets does not
stall chat delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from coup import metrics, protocol

log = logging.getLogger(__name__)

# Connections pinged before the loop yields to other work.
PINGS_PER_SLICE = 500


class Pingable(Protocol):
    heard_at: float

    def send_ping(self) -> None: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class Heartbeat:
    def __init__(self, interval_seconds: float,
                 connections: Callable[[], Iterable[Pingable]]) -> None:
        self.interval = interval_seconds
        self._connections = connections
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _beat_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat(loop.time())
            except Exception:
                log.exception("heartbeat failed")

    async def beat(self, now: float) -> int:
        """Ping every connection heard from recently, close the others; returns how many closed."""
        silent_since = now - 2 * self.interval
        closed = 0
        for index, connection in enumerate(list(self._connections()), 1):
            if connection.heard_at < silent_since:
                metrics.WS_CLOSES.labels(str(protocol.WS_1000_NORMAL)).inc()
                connection.close(protocol.WS_1000_NORMAL, "heartbeat timeout")
                closed += 1
            else:
                _ping(connection)
            if index % PINGS_PER_SLICE == 0:
                await asyncio.sleep(0)
        if closed:
            log.info("heartbeat closed %d silent connections", closed)
        return closed


def _ping(connection: Pingable) -> None:
    try:
        connection.send_ping()
    except Exception:  # one broken connection must not stop the beat for the others
        log.exception("ping failed for %r", connection)
