"""SessionActor: one per WebSocket connection (ARCHITECTURE §2, PROTOCOL §2-§9).

It owns the connection's state (user, joined rooms, rate buckets) and its bounded outbound
queue. Client frames arrive in its mailbox in order; Tornado does not read the next frame until
the previous one is queued, so a client that floods a full mailbox is slowed by TCP. Other
actors never touch the socket: they put pre-encoded frames into the outbound queue with
`push`, and send control messages (close, removed from a room) as system messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from coup import metrics, protocol
from coup.actors.messages import (
    CallCommand,
    CloseSession,
    Inbound,
    JoinAttempt,
    JoinRoom,
    LeaveRoom,
    PostMessage,
    RoomRemoved,
    SetTyping,
    StatusChanged,
)
from coup.actors.outbound import Outbound
from coup.actors.room import RoomActor
from coup.actors.runtime import Actor, ActorRef, ActorStopped, MailboxFull, handles
from coup.config import Settings
from coup.errors import ApiError, BadRequest, Forbidden, RateLimited, Text
from coup.store import chat as chat_store
from coup.store import notification_center
from coup.store.chat import CursorMove, MessageDraft
from coup.store.fields import new_id

log = logging.getLogger(__name__)

# How long a session waits for a room to answer a join or a call command before OVERLOADED.
ROOM_ASK_TIMEOUT_SECONDS = 10.0
# PROTOCOL §2: 20 bad frames in 10 s close the connection with 1008.
BAD_FRAMES_ALLOWED = 20
BAD_FRAMES_WINDOW_SECONDS = 10.0
# PROTOCOL §9: any frame 100/s (close 4029); signalling 50/s (RATE_LIMITED).
FRAMES_PER_SECOND = 100
SIGNALLING_PER_SECOND = 50
# Retry hint sent with OVERLOADED when a room's mailbox is full.
OVERLOADED_RETRY_MS = 1000
# The answer to a frame that arrives while the node drains (PROTOCOL §10, docs/protocol.md).
DRAINING = Text("서버가 종료 중입니다. 다시 연결한 뒤 재전송해 주세요.",
                "This node is shutting down; reconnect and send the frame again.")
NO_REPLY = object()

VIDEO_EVENTS = frozenset({
    "video:join-room", "video:leave-room", "video:offer", "video:answer", "video:ice-candidate",
    "video:toggle-audio", "video:toggle-video", "video:screen-share", "video:speaking",
    "chat:video-message",
})
SIGNALLING_EVENTS = frozenset({"video:offer", "video:answer", "video:ice-candidate"})


RoomRef = ActorRef[RoomActor]


class SessionHost(Protocol):
    """What a session needs of the node it runs on (the realtime front door)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def draining(self) -> bool: ...

    async def room_for(self, study_id: str) -> RoomRef:
        """The study's room on this node, started on demand."""

    def rooms_of_user(self, user_id: str) -> list[RoomRef]: ...

    def remove_session(self, session: SessionActor) -> None: ...

    def unread_count_changed(self, user_id: str, unread: int,
                             except_session: SessionActor | None = None) -> None: ...

    async def cursor_moved(self, study_id: str, user_id: str, moved: CursorMove,
                           room: RoomRef | None = None) -> None: ...


class WindowCounter:
    """Counts events in a fixed window; cheaper than a sliding log for per-frame checks."""

    __slots__ = ("count", "limit", "started", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.started, self.count = 0.0, 0

    def hit(self, now: float) -> bool:
        """Record one event; False when over the limit in the current window."""
        if now - self.started >= self.window:
            self.started, self.count = now, 0
        self.count += 1
        return self.count <= self.limit


class SessionActor(Actor):
    kind = "session"
    mailbox_size = 64

    def __init__(self, host: SessionHost, connection: Any, *, user: dict[str, Any],
                 login_session_id: str) -> None:
        self.host = host
        self.connection = connection  # the Tornado WebSocketHandler (typed there, not here)
        self.session_id = new_id()
        self.user = user
        self.user_id: str = user["id"]
        self.login_session_id = login_session_id
        self.rooms: dict[str, RoomRef] = {}
        self.connected_at = time.monotonic()
        settings = host.settings
        self.language = settings.language
        self.outbound = Outbound(connection.ws_connection.stream, settings.ws_outbound_max_bytes,
                                 settings.ws_outbound_max_frames, self._slow_consumer)
        self._frames = WindowCounter(FRAMES_PER_SECOND, 1.0)
        self._signalling = WindowCounter(SIGNALLING_PER_SECOND, 1.0)
        # hit() refuses the count-th + 1 event, and the 20th bad frame must already close.
        self._bad_frames = WindowCounter(BAD_FRAMES_ALLOWED - 1, BAD_FRAMES_WINDOW_SECONDS)
        self.closing = False
        # Pushes wait here until the hello is out (PROTOCOL §1: hello comes first).
        self._held: list[tuple[bytes, bool, int]] | None = []

    def __repr__(self) -> str:
        return f"<SessionActor {self.session_id} user={self.user_id}>"

    # --- outbound -----------------------------------------------------------------------------

    def push(self, frame: bytes, droppable: bool = False, frames: int = 1) -> bool:
        """Queue pre-encoded bytes for this connection (any actor may call this): one frame, or
        `frames` frames back to back."""
        if self._held is not None:
            self._held.append((frame, droppable, frames))
            return True
        return self.outbound.push(frame, droppable, frames)

    def send_hello(self, data: dict[str, Any]) -> None:
        """Write the hello, then whatever was pushed while it was being prepared."""
        held, self._held = self._held or [], None
        self.push_event("hello", data)
        for frame, droppable, frames in held:
            self.outbound.push(frame, droppable, frames)

    def push_event(self, event: str, data: Any) -> None:
        metrics.WS_FRAMES_OUT.labels(event).inc()
        self.push(protocol.encode_push(event, data), event in protocol.DROPPABLE_EVENTS)

    def reply(self, ref: int | str | None, data: Any) -> None:
        if ref is not None:
            self.push(protocol.encode_reply(ref, data))

    def reply_error(self, ref: int | str | None, error: BaseException) -> None:
        code, message, retry_after_ms = describe_error(error, self.language)
        if code == protocol.INTERNAL:
            metrics.WS_INTERNAL_REPLIES.inc()
        if ref is None:
            self.push(protocol.encode_push("error", {"code": code, "message": message}))
        else:
            self.push(protocol.encode_error_reply(ref, code, message, retry_after_ms))

    def close(self, code: int, reason: str) -> None:
        """Close the connection from the loop (safe to call more than once)."""
        if self.closing:
            return
        self.closing = True
        metrics.WS_CLOSES.labels(str(code)).inc()
        self.outbound.close() if code == protocol.WS_1013_TRY_AGAIN_LATER else None
        self.connection.close(code, reason)

    def removed_from_room(self, study_id: str) -> None:
        self.ref.tell_system(RoomRemoved(study_id))

    def _slow_consumer(self) -> None:
        log.info("closing slow consumer %s (outbound queue full)", self)
        self.close(protocol.WS_1013_TRY_AGAIN_LATER, "slow consumer")

    # --- inbound ------------------------------------------------------------------------------

    def admit_frame(self, text: str) -> bool:
        """Called by the connection for every frame before it is queued (PROTOCOL §9)."""
        if not self._frames.hit(time.monotonic()):
            # The frame that trips the limit still gets its one reply before the close.
            self.reply_error(_frame_ref(text), RateLimited(1.0, "too many frames"))
            self.close(protocol.WS_4029_TOO_MANY_REQUESTS, "too many frames")
            return False
        if self.host.draining:
            # Shutting down: nothing of this frame is done, and its ref still gets its one
            # reply (PROTOCOL §2). OVERLOADED is retryable: the client resends it after
            # reconnecting, through the load balancer, to another node.
            self.reply_error(_frame_ref(text), ApiError("OVERLOADED", message=DRAINING))
            return False
        return True

    async def receive_text(self, text: str) -> None:
        """A text frame from the connection: admitted (PROTOCOL §9), then queued in order;
        waits while the mailbox is full, so a flooding client is slowed by TCP."""
        if not self.admit_frame(text):
            return
        with contextlib.suppress(ActorStopped):  # the connection is closing
            await self.ref.send(Inbound(text))

    def connection_lost(self) -> None:
        """The socket closed: nothing more is written, and the actor stops."""
        self.closing = True
        self.ref.stop()

    @handles(Inbound)
    async def on_inbound(self, message: Inbound) -> None:
        if self.closing:
            return
        try:
            frame = protocol.decode_client_frame(message.text)
        except protocol.FrameError as exc:
            self._bad_frame(exc.ref, exc.message(self.language))
            return
        handler = FRAME_HANDLERS.get(frame.event)
        if handler is None:
            self._bad_frame(frame.ref, f"unknown event {frame.event!r}")
            return
        metrics.WS_FRAMES_IN.labels(frame.event).inc()
        try:
            result = await handler(self, frame)
        except BadRequest as exc:
            self._bad_frame(frame.ref, exc.message(self.language))
        except ApiError as exc:
            self.reply_error(frame.ref, exc)
        except (MailboxFull, TimeoutError, ActorStopped) as exc:
            self.reply_error(frame.ref, exc)
        except Exception as exc:
            log.exception("%s failed handling %s", self, frame.event)
            self.reply_error(frame.ref, exc)
        else:
            if result is not NO_REPLY:
                self.reply(frame.ref, {} if result is None else result)

    def _bad_frame(self, ref: int | str | None, reason: str) -> None:
        self.reply_error(ref, BadRequest(message=reason))
        if not self._bad_frames.hit(time.monotonic()):
            self.close(protocol.WS_1008_POLICY_VIOLATION, "too many bad frames")

    @handles(CloseSession)
    def on_close_session(self, message: CloseSession) -> None:
        self.close(message.code, message.reason)

    @handles(RoomRemoved)
    def on_room_removed(self, message: RoomRemoved) -> None:
        self.rooms.pop(message.study_id, None)

    async def on_stop(self) -> None:
        for room in self.rooms.values():
            room.tell_system(LeaveRoom(self))
        self.rooms.clear()
        self.outbound.close()
        self.host.remove_session(self)

    # --- frame handlers -----------------------------------------------------------------------

    async def ping(self, frame: protocol.ClientFrame) -> Any:
        return {"server_time": int(time.time() * 1000)}

    async def study_join(self, frame: protocol.ClientFrame) -> Any:
        study_id = require_id(frame.data, "study_id")
        since = frame.data.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                                  or since < 0):
            raise BadRequest(message="since must be a non-negative integer")
        if study_id not in self.rooms and len(self.rooms) >= \
                self.host.settings.ws_max_rooms_per_session:
            # A limit, not a malformed frame: it does not count toward the bad-frame close.
            raise ApiError("VALIDATION_ERROR", message="too many rooms joined on this connection")
        room = await self.host.room_for(study_id)
        # The room writes the reply itself, so it precedes every live event of the room.
        attempt = JoinAttempt(frame.ref)
        room.tell(JoinRoom(self, since, attempt))
        try:
            await asyncio.wait_for(asyncio.shield(attempt.done), ROOM_ASK_TIMEOUT_SECONDS)
        except TimeoutError:
            if not attempt.abandon():
                await attempt.done  # the room has taken it and is about to answer
            else:
                raise
        if attempt.joined:
            self.rooms[study_id] = room
        return NO_REPLY

    async def study_leave(self, frame: protocol.ClientFrame) -> Any:
        study_id = require_id(frame.data, "study_id")
        room = self.rooms.pop(study_id, None)
        if room is not None:
            await room.ask(LeaveRoom(self), ROOM_ASK_TIMEOUT_SECONDS)
        return {}

    def joined_room(self, study_id: str) -> RoomRef:
        room = self.rooms.get(study_id)
        if room is None or not room.alive:
            self.rooms.pop(study_id, None)
            raise Forbidden(message="join the study's room first (study:join)")
        return room

    async def chat_message(self, frame: protocol.ClientFrame) -> Any:
        data = frame.data
        study_id = require_id(data, "study_id")
        room = self.joined_room(study_id)
        file_id = data.get("file_id")
        if file_id is not None and not isinstance(file_id, str):
            raise BadRequest(message="file_id must be a string")
        try:
            content = chat_store.clean_content(data.get("content"), has_file=bool(file_id))
            client_id = chat_store.check_client_id(data.get("client_id"))
        except ApiError as exc:
            # Content rules are validation, not a malformed frame (no bad-frame count).
            raise ApiError("VALIDATION_ERROR", message=str(exc.fields or exc.message("en")),
                           fields=exc.fields) from None
        if client_id is None:
            raise BadRequest(message="client_id is required")
        ref = frame.ref

        def answer(outcome: Any, error: BaseException | None) -> None:
            if error is not None:
                self.reply_error(ref, error)
            else:
                self.reply(ref, {"message": outcome.message, "seq": outcome.seq})

        draft = MessageDraft(self.user_id, content, client_id, file_id or None)
        room.tell(PostMessage(draft, answer, time.perf_counter()))
        return NO_REPLY

    async def chat_edit(self, frame: protocol.ClientFrame) -> Any:
        study_id = require_id(frame.data, "study_id")
        self.joined_room(study_id)
        message_id = require_id(frame.data, "message_id")
        view = await chat_store.edit_message(study_id, message_id, self.user_id,
                                             frame.data.get("content"))
        return {"message": view}

    async def chat_delete(self, frame: protocol.ClientFrame) -> Any:
        study_id = require_id(frame.data, "study_id")
        self.joined_room(study_id)
        await chat_store.delete_message(study_id, require_id(frame.data, "message_id"),
                                        self.user_id)
        return {}

    async def chat_read(self, frame: protocol.ClientFrame) -> Any:
        study_id = require_id(frame.data, "study_id")
        room = self.joined_room(study_id)
        seq = frame.data.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise BadRequest(message="seq must be a non-negative integer")
        moved = await chat_store.move_read_cursor(study_id, self.user_id, seq)
        await self.host.cursor_moved(study_id, self.user_id, moved, room)
        return {}

    async def chat_typing(self, frame: protocol.ClientFrame) -> Any:
        study_id = require_id(frame.data, "study_id")
        is_typing = frame.data.get("is_typing")
        if not isinstance(is_typing, bool):
            raise BadRequest(message="is_typing must be true or false")
        room = self.joined_room(study_id)
        with contextlib.suppress(MailboxFull):  # typing is the first thing shed under load
            room.tell(SetTyping(self, is_typing))
        return {}

    async def presence_status(self, frame: protocol.ClientFrame) -> Any:
        status = frame.data.get("status")
        if status not in ("online", "away", "busy"):
            raise BadRequest(message="status must be online, away or busy")
        for room in self.host.rooms_of_user(self.user_id):
            room.tell_system(StatusChanged(self.user_id, status))
        return {}

    async def notification_read(self, frame: protocol.ClientFrame) -> Any:
        data = frame.data
        if data.get("all") is True:
            unread = (await notification_center.mark_all_read(self.user_id)).unread
        else:
            unread = (await notification_center.mark_read(
                self.user_id, require_id(data, "notification_id"))).unread
        self.host.unread_count_changed(self.user_id, unread, except_session=self)
        return {"unread": unread}

    async def video(self, frame: protocol.ClientFrame) -> Any:
        study_id = require_id(frame.data, "study_id")
        if frame.event in SIGNALLING_EVENTS and not self._signalling.hit(time.monotonic()):
            raise RateLimited(1.0)
        room = self.joined_room(study_id)
        if frame.event in SIGNALLING_EVENTS or frame.event == "chat:video-message":
            # Relays keep their order through the room's mailbox; no need to wait for them.
            room.tell(CallCommand(self, frame.event, frame.data, frame.ref))
        else:
            await room.ask(CallCommand(self, frame.event, frame.data, frame.ref),
                           ROOM_ASK_TIMEOUT_SECONDS)
        return NO_REPLY

    async def auth_again(self, frame: protocol.ClientFrame) -> Any:
        raise BadRequest(message="this connection is already authenticated")


FrameHandler = Callable[[SessionActor, protocol.ClientFrame], Awaitable[Any]]
FRAME_HANDLERS: dict[str, FrameHandler] = {
    "ping": SessionActor.ping,
    "auth": SessionActor.auth_again,
    "study:join": SessionActor.study_join,
    "study:leave": SessionActor.study_leave,
    "chat:message": SessionActor.chat_message,
    "chat:edit": SessionActor.chat_edit,
    "chat:delete": SessionActor.chat_delete,
    "chat:read": SessionActor.chat_read,
    "chat:typing": SessionActor.chat_typing,
    "presence:status-change": SessionActor.presence_status,
    "notification:read": SessionActor.notification_read,
    **{event: SessionActor.video for event in VIDEO_EVENTS},
}


def require_id(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > 32:
        raise BadRequest(message=f"{name} must be an id string")
    return value


def describe_error(error: BaseException, language: str) -> tuple[str, str, int | None]:
    """(PROTOCOL code, message, retry_after_ms) for any error a frame handler can raise."""
    if isinstance(error, ApiError):
        retry = (error.details or {}).get("retry_after_ms") if error.code == "RATE_LIMITED" \
            else None
        if error.ws_code == "OVERLOADED":
            retry = OVERLOADED_RETRY_MS
        message = error.message(language)
        if error.ws_code != error.code:
            message = f"{message} ({error.code})"
        return error.ws_code, message, retry
    if isinstance(error, MailboxFull | TimeoutError | ActorStopped | asyncio.TimeoutError):
        return protocol.OVERLOADED, "the room is busy; retry later", OVERLOADED_RETRY_MS
    return protocol.INTERNAL, "an internal error occurred", None


def _frame_ref(text: str) -> int | str | None:
    try:
        return protocol.decode_client_frame(text).ref
    except protocol.FrameError as exc:
        return exc.ref
