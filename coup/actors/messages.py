"""Messages between actors: commands in the imperative, events in the past tense.

Messages are small immutable values. A `reply` callable, where present, is called exactly once
by the receiving actor, synchronously, so the caller's reply frame is written in order with the
frames the same actor writes next.

A room sees a session only as a `Member` (what it needs of one), so neither actor module
imports the other's class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from coup.store.chat import MessageDraft, WriteOutcome
from coup.store.events import CommittedEvent


class Member(Protocol):
    """A session as a room sees it: who it is and how to write to it."""

    @property
    def session_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def user(self) -> dict[str, Any]: ...

    def push(self, frame: bytes, droppable: bool = False, frames: int = 1) -> bool: ...

    def push_event(self, event: str, data: Any) -> None: ...

    def reply(self, ref: int | str | None, data: Any) -> None: ...

    def reply_error(self, ref: int | str | None, error: BaseException) -> None: ...

    def removed_from_room(self, study_id: str) -> None:
        """The room took this session out (it already sent study:removed or study:rejoin)."""


# --- to a SessionActor --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inbound:
    """One text frame from the client, not yet decoded."""

    text: str


@dataclass(frozen=True, slots=True)
class CloseSession:
    """Close the connection with a PROTOCOL close code (revocation, slow consumer, ...)."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class RoomRemoved:
    """The room removed this session (kick, leave, deletion); it already sent study:removed."""

    study_id: str


# --- to a RoomActor -----------------------------------------------------------------------------


class JoinAttempt:
    """One study:join between a session and a room. The session may give up waiting
    (`abandon`) only while the room has not taken it (`claim`), so the client never gets two
    replies for one ref and an abandoned join leaves no trace in the room."""

    def __init__(self, ref: int | str | None) -> None:
        self.ref = ref
        self.state = "pending"  # pending -> claimed -> done, or pending -> abandoned
        self.joined = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def claim(self) -> bool:
        if self.state != "pending":
            return False
        self.state = "claimed"
        return True

    def abandon(self) -> bool:
        if self.state != "pending":
            return False
        self.state = "abandoned"
        return True

    def finish(self, joined: bool) -> None:
        self.state, self.joined = "done", joined
        if not self.done.done():
            self.done.set_result(None)


@dataclass(frozen=True, slots=True)
class JoinRoom:
    """Add a session to the room; the reply carries seq, online users, call and missed events."""

    session: Member
    since: int | None
    attempt: JoinAttempt


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    """Remove a session from the room (study:leave or a closed socket)."""

    session: Member


@dataclass(frozen=True, slots=True)
class PostMessage:
    """Write a chat message (WebSocket or REST); `reply(outcome, error)` after commit."""

    draft: MessageDraft
    reply: Callable[[WriteOutcome | None, BaseException | None], None]
    received_at: float


@dataclass(frozen=True, slots=True)
class EventsCommitted:
    """Durable events of this study committed somewhere; deliver them in seq order."""

    events: list[CommittedEvent]


@dataclass(frozen=True, slots=True)
class RemoveFromRoom:
    """Take a user's sessions (or everyone's, when user_id is None) out of the room and call."""

    user_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class SetTyping:
    session: Member
    is_typing: bool


@dataclass(frozen=True, slots=True)
class RepairGap:
    """Timer: the room waited long enough for a missing seq; fetch it from the database."""

    expected_seq: int


@dataclass(frozen=True, slots=True)
class UserWentOffline:
    """Timer: the reconnect grace of a user who left the room has passed."""

    user_id: str


@dataclass(frozen=True, slots=True)
class CallCommand:
    """A video signalling frame for the room's call (PROTOCOL §8)."""

    session: Member
    event: str
    data: dict[str, Any]
    ref: int | str | None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    user_id: str
    status: str


@dataclass(frozen=True, slots=True)
class RoomPush:
    """A non-durable push for this room's local sessions (from this node or another)."""

    event: str
    data: dict[str, Any]
    except_user: str | None = None
    except_session: str | None = None
    call_only: bool = False
    droppable: bool = False


@dataclass(frozen=True, slots=True)
class CheckHead:
    """Compare the delivered seq with the database and fill any gap (after a bus outage or a
    node's death)."""


@dataclass(frozen=True, slots=True)
class PresenceGone:
    """Users reported offline by the cluster (their node died)."""

    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CallParticipantGone:
    """A participant of this study's call was on a node that died."""

    session_id: str
    user_id: str | None
