"""The per-node registry: who is connected here and which rooms are active (ARCHITECTURE §2).

Node-local state lives in these few maps, each with named add/get/remove functions:

- `rooms`: study id -> RoomActor ref, activated on the first join or chat post, passivated by
  the GC after ROOM_IDLE_SECONDS without sessions or work;
- `sessions`: connection id -> SessionActor;
- `user_sessions`: user id -> that user's SessionActors here (per-user pushes, limits);
- `login_sessions`: login session id -> the SessionActors it authenticated (revocation).

Besides the maps: activation, the GC and the drain (centrifuge's Hub). What arrives from the
store or the bus is routed by the front door (coup/actors/realtime.py), which reads these maps.
The registry is what a room needs of its node (`RoomHost`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from coup import metrics, protocol
from coup.actors.chat_writer import ChatWriter
from coup.actors.heartbeat import Heartbeat
from coup.actors.room import RECONNECT_GRACE_SECONDS, RoomActor
from coup.actors.runtime import start_actor, stop_actor
from coup.actors.session import RoomRef, SessionActor
from coup.bus.base import Bus
from coup.bus.messages import CloseConnection, StudyPush
from coup.config import Settings
from coup.ratelimit import Limits
from coup.status import NodeStatus

log = logging.getLogger(__name__)

# A room with no sessions and no work for this long is stopped; it restarts on the next join.
ROOM_IDLE_SECONDS = 60.0
# How often the GC looks for idle rooms and dead sessions.
GC_INTERVAL_SECONDS = 30.0

K = TypeVar("K")
V = TypeVar("V")


class Registry:
    def __init__(self, status: NodeStatus, bus: Bus, limits: Limits) -> None:
        self._status = status
        self.bus = bus
        self.limits = limits
        self.rooms: dict[str, RoomRef] = {}
        self.sessions: dict[str, SessionActor] = {}
        self.user_sessions: dict[str, set[SessionActor]] = defaultdict(set)
        self.login_sessions: dict[str, set[SessionActor]] = defaultdict(set)
        self.chat_writer = ChatWriter()
        self._passivating: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self.draining = False
        self._gc_task: asyncio.Task[None] | None = None
        self.heartbeat = Heartbeat(self.settings.ws_heartbeat_ms / 1000,
                                   lambda: (s.connection for s in self.sessions.values()))
        # (study, user) whose presence a draining node leaves until the grace period ends.
        self._offline_after_grace: list[tuple[str, str]] = []

    @property
    def settings(self) -> Settings:
        return self._status.settings

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._gc_task = asyncio.get_running_loop().create_task(self._gc_forever())
        self.heartbeat.start()

    async def drain(self, timeout: float) -> None:
        """PROTOCOL §10: finish queued frames, flush every room's pending chat to the
        database (acknowledging it), then close every socket with 1001."""
        started = time.monotonic()
        deadline = started + timeout
        self.draining = True
        while any(s.ref.depth for s in self.sessions.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for study_id in list(self.rooms):
            await self._stop_room(study_id)
        for session in list(self.sessions.values()):
            session.close(protocol.WS_1001_GOING_AWAY, "server shutting down")
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self._report_offline_after_grace(min(deadline, started + RECONNECT_GRACE_SECONDS))
        await self.stop()

    def offline_after_grace(self, study_id: str, user_ids: list[str]) -> None:
        self._offline_after_grace.extend((study_id, user_id) for user_id in user_ids)

    async def _report_offline_after_grace(self, until: float) -> None:
        """The users of a drained node who did not come back on another node go offline."""
        if not self._offline_after_grace:
            return
        await asyncio.sleep(max(0.0, until - time.monotonic()))
        for study_id, user_id in self._offline_after_grace:
            if (await self.bus.presence_leave(study_id, user_id)).became_offline:
                metrics.PRESENCE_CHANGES.labels("offline").inc()
                self.bus.publish_study(study_id, StudyPush(
                    study_id, "user:offline", {"study_id": study_id, "user_id": user_id}))
        self._offline_after_grace.clear()

    async def stop(self) -> None:
        await self.heartbeat.stop()
        if self._gc_task is not None:
            self._gc_task.cancel()
            await asyncio.gather(self._gc_task, return_exceptions=True)
        for session in list(self.sessions.values()):
            await stop_actor(session.ref)
        for study_id in list(self.rooms):
            await self._stop_room(study_id)

    # --- rooms --------------------------------------------------------------------------------

    async def room_for(self, study_id: str) -> RoomRef:
        """The study's RoomActor on this node, started on demand."""
        room = self.rooms.get(study_id)
        if room is not None and room.alive:
            return room
        return self._start_room(study_id, None)

    def active_room(self, study_id: str) -> RoomRef | None:
        room = self.rooms.get(study_id)
        return room if room is not None and room.alive else None

    def _start_room(self, study_id: str, resume_from_seq: int | None) -> RoomRef:
        room = start_actor(RoomActor(self, study_id, resume_from_seq))
        self.rooms[study_id] = room
        metrics.ACTIVE_ROOMS.set(len(self.rooms))
        room.stopped.add_done_callback(lambda _: self._room_stopped(study_id, room))
        return room

    def _room_stopped(self, study_id: str, room: RoomRef) -> None:
        if self.rooms.get(study_id) is room:
            del self.rooms[study_id]
            metrics.ACTIVE_ROOMS.set(len(self.rooms))
        if study_id in self._passivating:
            return
        # Supervision: a room that stopped on its own lost its state; its sessions are told to
        # join again with `since`, which recovers every event they have not seen.
        actor = room.actor
        if actor.sessions:
            log.warning("room %s stopped unexpectedly; %d sessions told to rejoin", study_id,
                        len(actor.sessions))
        frame = protocol.encode_push("study:rejoin", {"study_id": study_id,
                                                      "seq": actor.last_seq})
        for session in actor.sessions.values():
            session.push(frame)
            session.removed_from_room(study_id)

    async def _stop_room(self, study_id: str) -> None:
        room = self.rooms.get(study_id)
        if room is None:
            return
        self._passivating.add(study_id)
        try:
            await stop_actor(room)
        finally:
            self._passivating.discard(study_id)

    def rooms_of_user(self, user_id: str) -> list[RoomRef]:
        rooms: dict[str, RoomRef] = {}
        for session in self.user_sessions.get(user_id, ()):
            rooms.update(session.rooms)
        return list(rooms.values())

    # --- sessions -----------------------------------------------------------------------------

    def add_session(self, session: SessionActor) -> None:
        self.sessions[session.session_id] = session
        mine = self.user_sessions[session.user_id]
        if not mine:
            self._spawn(self.bus.watch_user(session.user_id))
        mine.add(session)
        self.login_sessions[session.login_session_id].add(session)
        metrics.WS_CONNECTIONS.set(len(self.sessions))
        self._spawn(self._enforce_connection_limit(session))

    async def _enforce_connection_limit(self, session: SessionActor) -> None:
        """PROTOCOL §9: a user's oldest connections, on any node, make room for the new one."""
        excess = await self.bus.connection_opened(session.user_id, session.session_id,
                                                  self.settings.ws_max_sessions_per_user)
        for node_id, session_id in excess:
            if node_id == self.bus.node_id:
                self.close_session(session.user_id, session_id, "too many connections")
            else:
                self.bus.publish_node(node_id, CloseConnection(session.user_id, session_id,
                                                               "too many connections"))

    def close_session(self, user_id: str, session_id: str, reason: str) -> None:
        old = self.sessions.get(session_id)
        if old is not None:
            old.close(protocol.WS_1008_POLICY_VIOLATION, reason)
        else:  # already gone: forget its stale entry in the count
            self._spawn(self.bus.connection_closed(user_id, session_id))

    def remove_session(self, session: SessionActor) -> None:
        self.sessions.pop(session.session_id, None)
        _discard(self.user_sessions, session.user_id, session)
        if session.user_id not in self.user_sessions:
            self._spawn(self.bus.unwatch_user(session.user_id))
        self._spawn(self.bus.connection_closed(session.user_id, session.session_id))
        _discard(self.login_sessions, session.login_session_id, session)
        metrics.WS_CONNECTIONS.set(len(self.sessions))

    def close_login_sessions(self, login_session_ids: Iterable[str], reason: str) -> int:
        """Close every connection of the revoked login sessions with 1008 (COUP.md §5.1)."""
        closed = 0
        for login_session_id in login_session_ids:
            for session in list(self.login_sessions.get(login_session_id, ())):
                session.close(protocol.WS_1008_POLICY_VIOLATION, f"session revoked: {reason}")
                closed += 1
        return closed

    def close_user(self, user_id: str, reason: str) -> None:
        for session in list(self.user_sessions.get(user_id, ())):
            session.close(protocol.WS_1008_POLICY_VIOLATION, reason)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- garbage collection -------------------------------------------------------------------

    async def _gc_forever(self) -> None:
        while True:
            await asyncio.sleep(GC_INTERVAL_SECONDS)
            try:
                await self.collect_garbage()
            except Exception:
                log.exception("registry GC failed")

    async def collect_garbage(self, idle_seconds: float = ROOM_IDLE_SECONDS) -> list[str]:
        """Stop idle rooms and forget dead sessions; logs what it removed and how long it took."""
        started = time.perf_counter()
        now = time.monotonic()
        idle = [study_id for study_id, room in self.rooms.items()
                if room.actor.idle and now - room.actor.idle_since >= idle_seconds]
        for study_id in idle:
            await self._stop_room(study_id)
        dead = [s for s in self.sessions.values() if not s.ref.alive]
        for session in dead:
            self.remove_session(session)
        depth = max((room.depth for room in self.rooms.values()), default=0)
        metrics.MAILBOX_DEPTH.labels("room").set(depth)
        if idle or dead:
            log.info("registry GC: %d idle rooms stopped, %d dead sessions removed in %.1f ms",
                     len(idle), len(dead), 1000 * (time.perf_counter() - started))
        return idle


def _discard(index: dict[K, set[V]], key: K, value: V) -> None:
    values = index.get(key)
    if values is not None:
        values.discard(value)
        if not values:
            del index[key]
