"""The front door of the realtime core: the one way the request side reaches the sockets.

Handlers call it to open a session, post a chat message, or say that a read cursor moved or
an unread count changed. The store hands it every committed write's effects (it is the
after-commit sink: events, notifications, removals and revocations), and the bus hands it every
message from another node (it is the bus's handler). It routes each to the rooms and sessions
of this node (the registry's maps) and, once, to the other nodes through the bus.

Without a bus that reaches other processes (`memory://`), a revocation made by the CLI cannot
arrive as a message; the front door then asks the database twice a second which of the login
sessions holding sockets here were revoked (COUP.md §5.1: closed within 1 s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

from coup import protocol
from coup.actors.messages import (
    CallParticipantGone,
    CheckHead,
    EventsCommitted,
    PostMessage,
    PresenceGone,
    RemoveFromRoom,
    RoomPush,
)
from coup.actors.registry import Registry
from coup.actors.runtime import MailboxFull, start_actor
from coup.actors.session import FRAMES_PER_SECOND, SIGNALLING_PER_SECOND, RoomRef, SessionActor
from coup.bus.base import Bus, CallSeats, OfflineUsers
from coup.bus.messages import (
    BusMessage,
    CallLeft,
    CheckHeads,
    CloseConnection,
    EventsPublished,
    PresenceLost,
    PresenceRestored,
    Relay,
    RemovedFromRoom,
    SessionsRevoked,
    SettingsChanged,
    StudyPush,
    UserPush,
)
from coup.config import Settings
from coup.errors import ApiError
from coup.ratelimit import Limits
from coup.status import NodeStatus
from coup.store import sessions as session_store
from coup.store.chat import CursorMove, MessageDraft, WriteOutcome
from coup.store.events import CommittedEvent, Effects
from coup.store.notifications import unread_count
from coup.store.sessions import AuthState
from coup.store.system_settings import SettingsCache

log = logging.getLogger(__name__)

# A REST post waits at most this long for its group commit before answering OVERLOADED.
POST_TIMEOUT_SECONDS = 10.0
# How often, without a bus that reaches other processes, the database is asked for
# revocations made elsewhere (the CLI).
REVOCATION_POLL_SECONDS = 0.5


class Realtime:
    def __init__(self, status: NodeStatus, bus: Bus, limits: Limits,
                 system_settings: SettingsCache) -> None:
        self._status = status
        self.bus = bus
        self.limits = limits
        self._system_settings = system_settings
        self.registry = Registry(status, bus, limits)
        self._revocation_poll: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        return self._status.settings

    @property
    def draining(self) -> bool:
        return self.registry.draining

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.registry.start()
        await self.bus.start(self)
        if not self.bus.reaches_other_processes:
            self._revocation_poll = asyncio.get_running_loop().create_task(
                self._poll_revocations_forever())

    async def drain(self, timeout: float) -> None:
        """PROTOCOL §10: see Registry.drain; then the bus stops."""
        if self._revocation_poll is not None:
            self._revocation_poll.cancel()
            await asyncio.gather(self._revocation_poll, return_exceptions=True)
            self._revocation_poll = None
        await self.registry.drain(timeout)
        await self.bus.stop()

    # --- from the request side ----------------------------------------------------------------

    def open_session(self, connection: Any, auth: AuthState) -> SessionActor:
        """A registered SessionActor for an authenticated connection; `send_hello` next (the
        connection holds the session first, so a close in between still stops it)."""
        user = {"id": auth.user.id, "name": auth.user.name, "avatar": auth.user.avatar}
        session = SessionActor(self, connection, user=user, login_session_id=auth.session.id)
        start_actor(session)
        self.registry.add_session(session)
        return session

    async def send_hello(self, session: SessionActor) -> None:
        """PROTOCOL §1: the hello, then whatever was pushed to the session meanwhile."""
        settings = self.settings
        chat = self.limits.chat.rate
        unread = await unread_count(session.user_id)
        session.send_hello({
            "session_id": session.session_id,
            "user": session.user,
            "node": settings.node_id,
            "heartbeat_ms": settings.ws_heartbeat_ms,
            "limits": {
                "max_frame_bytes": settings.ws_max_frame_bytes,
                "max_rooms": settings.ws_max_rooms_per_session,
                "max_sessions_per_user": settings.ws_max_sessions_per_user,
                "chat_messages": chat.count,
                "chat_window_seconds": chat.window_seconds,
                "frames_per_second": FRAMES_PER_SECOND,
                "signalling_per_second": SIGNALLING_PER_SECOND,
                "outbound_max_bytes": settings.ws_outbound_max_bytes,
                "outbound_max_frames": settings.ws_outbound_max_frames,
            },
            "unread_notifications": unread,
        })

    async def post_chat(self, study_id: str, draft: MessageDraft) -> WriteOutcome:
        """Hand a REST message to the study's room and wait for its group commit."""
        future: asyncio.Future[WriteOutcome] = asyncio.get_running_loop().create_future()

        def answer(outcome: WriteOutcome | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            elif outcome is not None:
                future.set_result(outcome)

        room = await self.registry.room_for(study_id)
        try:
            room.tell(PostMessage(draft, answer, time.perf_counter()))
        except MailboxFull:
            raise ApiError("OVERLOADED",
                           message="the study's chat is busy; retry shortly") from None
        try:
            return await asyncio.wait_for(future, POST_TIMEOUT_SECONDS)
        except TimeoutError:
            raise ApiError("OVERLOADED",
                           message="the message was not committed in time") from None

    async def cursor_moved(self, study_id: str, user_id: str, moved: CursorMove,
                           room: RoomRef | None = None) -> None:
        """chat:message-read to the room when the cursor moved; the unread count when the CHAT
        notification was marked read (COUP.md §7.7, §8.2)."""
        if moved.moved:
            data = {"study_id": study_id, "user_id": user_id, "seq": moved.last_read_seq}
            room = room or self.registry.active_room(study_id)
            if room is not None:
                room.tell_system(RoomPush("chat:message-read", data))
            self.bus.publish_study(study_id, StudyPush(study_id, "chat:message-read", data))
        if moved.chat_notification_read:
            self.unread_count_changed(user_id, await unread_count(user_id))

    def unread_count_changed(self, user_id: str, unread: int,
                             except_session: SessionActor | None = None) -> None:
        """notification:unread-count to every socket of the user, on every node (§7.14)."""
        data = {"unread": unread}
        self._push_to_user(user_id, "notification:unread-count", data, except_session)
        self.bus.publish_user(user_id, UserPush(user_id, "notification:unread-count", data))

    def sessions_revoked(self, login_session_ids: list[str], reason: str) -> None:
        """Close the revoked sessions' sockets here and on every other node (within 1 s)."""
        self.registry.close_login_sessions(login_session_ids, reason)
        self.bus.publish_all(SessionsRevoked(tuple(login_session_ids), reason))

    def settings_changed(self) -> None:
        """System settings were written: clear this node's cache and every other node's."""
        self._system_settings.invalidate()
        self.bus.publish_all(SettingsChanged())

    # --- what a session needs of its node (SessionHost) ---------------------------------------

    async def room_for(self, study_id: str) -> RoomRef:
        return await self.registry.room_for(study_id)

    def rooms_of_user(self, user_id: str) -> list[RoomRef]:
        return self.registry.rooms_of_user(user_id)

    def remove_session(self, session: SessionActor) -> None:
        self.registry.remove_session(session)

    # --- the store's after-commit sink --------------------------------------------------------

    async def deliver_effects(self, effects: Effects) -> None:
        """Committed events to their rooms (in seq order), then notifications, removals and
        revocations; each here and, once, to the other nodes."""
        by_study: dict[str, list[CommittedEvent]] = defaultdict(list)
        for event in effects.events:
            by_study[event.study_id].append(event)
        for study_id, events in by_study.items():
            self._events_to_room(study_id, events)
            self.bus.publish_study(study_id, EventsPublished(study_id, tuple(
                (e.seq, e.type, e.payload, e.committed_at) for e in events)))
        for push in effects.notifications:
            data = {"notification": push.notification}
            self._push_to_user(push.user_id, "notification:new", data)
            self.bus.publish_user(push.user_id, UserPush(push.user_id, "notification:new", data))
        for removal in effects.removals:
            self._remove_from_room(removal.study_id, removal.user_id, removal.reason)
            self.bus.publish_study(removal.study_id, RemovedFromRoom(
                removal.study_id, removal.user_id, removal.reason))
        for revocation in effects.revocations:
            self.sessions_revoked(list(revocation.session_ids), revocation.reason)

    # --- the bus's handler --------------------------------------------------------------------

    def on_message(self, message: BusMessage) -> None:
        """A message from another node, dispatched by its type."""
        match message:
            case EventsPublished():
                self._events_to_room(message.study_id, [
                    CommittedEvent(message.study_id, seq, event_type, payload, committed)
                    for seq, event_type, payload, committed in message.events])
            case StudyPush():
                room = self.registry.active_room(message.study_id)
                if room is not None:
                    room.tell_system(RoomPush(message.event, message.data, message.except_user,
                                              message.except_session, message.call_only,
                                              message.droppable))
            case RemovedFromRoom():
                self._remove_from_room(message.study_id, message.user_id, message.reason)
            case UserPush():
                self._push_to_user(message.user_id, message.event, message.data)
            case SessionsRevoked():
                self.registry.close_login_sessions(message.sessions, message.reason)
            case CloseConnection():
                self.registry.close_session(message.user_id, message.session_id,
                                            message.reason)
            case Relay():
                session = self.registry.sessions.get(message.session_id)
                if session is not None:
                    session.push_event(message.event, message.data)
            case PresenceLost():
                self._tell_rooms_node_dead([(message.study_id, message.user_id)], [])
            case PresenceRestored():
                room = self.registry.active_room(message.study_id)
                if room is not None:
                    room.tell_system(RoomPush("user:online", {"study_id": message.study_id,
                                                              "user": message.user}))
            case CallLeft():
                self._tell_rooms_node_dead([], [(message.study_id, message.session_id,
                                                 {"user": {"id": message.user_id}})])
            case CheckHeads():
                self.on_reconnected()
            case SettingsChanged():
                self._system_settings.invalidate()

    def on_reconnected(self) -> None:
        """After a bus outage every room compares its seq with the database (gap repair)."""
        for room in self.registry.rooms.values():
            room.tell_system(CheckHead())

    def on_node_dead(self, offline: OfflineUsers, calls: CallSeats) -> None:
        """This node cleaned up after a dead one: its users went offline and its call
        participants left, here and (told once, by this node) everywhere else; every room
        re-checks its seq, in case the dead node committed events it never published."""
        self._tell_rooms_node_dead(offline, calls)
        for study_id, user_id in offline:
            self.bus.publish_study(study_id, PresenceLost(study_id, user_id))
        for study_id, session_id, info in calls:
            self.bus.publish_study(study_id, CallLeft(study_id, session_id,
                                                      (info.get("user") or {}).get("id")))
        self.bus.publish_all(CheckHeads())
        self.on_reconnected()

    # --- routing to this node's rooms and sessions --------------------------------------------

    def _events_to_room(self, study_id: str, events: list[CommittedEvent]) -> None:
        room = self.registry.active_room(study_id)
        if room is not None:
            room.tell_system(EventsCommitted(events))

    def _remove_from_room(self, study_id: str, user_id: str | None, reason: str) -> None:
        room = self.registry.active_room(study_id)
        if room is not None:
            room.tell_system(RemoveFromRoom(user_id, reason))

    def _push_to_user(self, user_id: str, event: str, data: Any,
                      except_session: SessionActor | None = None) -> None:
        sessions = self.registry.user_sessions.get(user_id)
        if not sessions:
            return
        frame = protocol.encode_push(event, data)
        for session in sessions:
            if session is not except_session:
                session.push(frame)

    def _tell_rooms_node_dead(self, offline: OfflineUsers, calls: CallSeats) -> None:
        by_study: dict[str, list[str]] = defaultdict(list)
        for study_id, user_id in offline:
            by_study[study_id].append(user_id)
        for study_id, user_ids in by_study.items():
            room = self.registry.active_room(study_id)
            if room is not None:
                room.tell_system(PresenceGone(tuple(user_ids)))
        for study_id, session_id, info in calls:
            room = self.registry.active_room(study_id)
            if room is not None:
                room.tell_system(CallParticipantGone(session_id,
                                                     (info.get("user") or {}).get("id")))

    # --- revocations made by other processes, without a bus -----------------------------------

    async def close_sockets_of_revoked_sessions(self) -> int:
        """Close (1008) the sockets here whose login session the database says is revoked,
        whoever revoked it; returns how many sessions that was."""
        if not self.registry.login_sessions:
            return 0
        revoked = await session_store.revoked_among(list(self.registry.login_sessions))
        for session_id, reason in revoked.items():
            self.registry.close_login_sessions([session_id], reason)
        return len(revoked)

    async def _poll_revocations_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(REVOCATION_POLL_SECONDS)
            try:
                await self.close_sockets_of_revoked_sessions()
                failing = False
            except Exception as exc:
                if not failing:  # once per outage, not twice a second
                    log.warning("looking for revoked sessions failed: %s", exc)
                failing = True
