"""The messages between nodes: one frozen dataclass per kind, with its wire form.

A message travels as a small JSON object whose `"t"` names its kind (`to_wire`); the reader
turns it back into its class (`decode`) and the realtime front door dispatches it by type.
Nothing here is a PROTOCOL frame: the receiving node decides what its sockets get.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

log = logging.getLogger(__name__)

# The wire form of one durable event: [seq, type, payload, committed_at].
WireEvent = tuple[int, str, dict[str, Any], float]


@dataclass(frozen=True, slots=True)
class EventsPublished:
    """Durable events of a study, committed on the sending node, in seq order."""

    kind: ClassVar[str] = "events"
    study_id: str
    events: tuple[WireEvent, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "study_id": self.study_id,
                "events": [list(event) for event in self.events]}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> EventsPublished:
        return cls(wire["study_id"], tuple((seq, event_type, payload, committed)
                                           for seq, event_type, payload, committed
                                           in wire["events"]))


@dataclass(frozen=True, slots=True)
class StudyPush:
    """A non-durable push for the sessions of a study's room (typing, presence, calls)."""

    kind: ClassVar[str] = "push"
    study_id: str
    event: str
    data: dict[str, Any]
    except_user: str | None = None
    except_session: str | None = None
    call_only: bool = False
    droppable: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "study_id": self.study_id, "event": self.event,
                "data": self.data, "except_user": self.except_user,
                "except_session": self.except_session, "call_only": self.call_only,
                "droppable": self.droppable}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> StudyPush:
        return cls(wire["study_id"], wire["event"], wire["data"], wire.get("except_user"),
                   wire.get("except_session"), bool(wire.get("call_only")),
                   bool(wire.get("droppable")))


@dataclass(frozen=True, slots=True)
class RemovedFromRoom:
    """A user's sessions (everyone's, when user_id is None) leave a study's room."""

    kind: ClassVar[str] = "remove"
    study_id: str
    user_id: str | None
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "study_id": self.study_id, "user_id": self.user_id,
                "reason": self.reason}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> RemovedFromRoom:
        return cls(wire["study_id"], wire.get("user_id"), wire["reason"])


@dataclass(frozen=True, slots=True)
class UserPush:
    """A push for every session of one user (notifications, the unread count)."""

    kind: ClassVar[str] = "user_push"
    user_id: str
    event: str
    data: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "user_id": self.user_id, "event": self.event,
                "data": self.data}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> UserPush:
        return cls(wire["user_id"], wire["event"], wire["data"])


@dataclass(frozen=True, slots=True)
class SessionsRevoked:
    """Login sessions revoked (committed): their sockets close with 1008 (COUP.md §5.1)."""

    kind: ClassVar[str] = "revoke"
    sessions: tuple[str, ...]
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "sessions": list(self.sessions), "reason": self.reason}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SessionsRevoked:
        return cls(tuple(wire["sessions"]), wire["reason"])


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close one connection on the receiving node (the per-user connection limit)."""

    kind: ClassVar[str] = "close_session"
    user_id: str
    session_id: str
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "user_id": self.user_id, "session_id": self.session_id,
                "reason": self.reason}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> CloseConnection:
        return cls(wire["user_id"], wire["session_id"], wire.get("reason", ""))


@dataclass(frozen=True, slots=True)
class Relay:
    """A signalling payload for one session on the receiving node (PROTOCOL §8)."""

    kind: ClassVar[str] = "relay"
    session_id: str
    event: str
    data: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "session_id": self.session_id, "event": self.event,
                "data": self.data}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Relay:
        return cls(wire["session_id"], wire["event"], wire["data"])


@dataclass(frozen=True, slots=True)
class PresenceLost:
    """A user went offline in a study because their node died (reported once, by the node
    that cleaned up after it)."""

    kind: ClassVar[str] = "presence"
    study_id: str
    user_id: str

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "study_id": self.study_id, "user_id": self.user_id}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> PresenceLost:
        return cls(wire["study_id"], wire["user_id"])


@dataclass(frozen=True, slots=True)
class PresenceRestored:
    """A node the others had taken for dead still serves this user in the study."""

    kind: ClassVar[str] = "presence_restored"
    study_id: str
    user: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "study_id": self.study_id, "user": self.user}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> PresenceRestored:
        return cls(wire["study_id"], wire["user"])


@dataclass(frozen=True, slots=True)
class CallLeft:
    """A call participant was on a node that died."""

    kind: ClassVar[str] = "call_left"
    study_id: str
    session_id: str
    user_id: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind, "study_id": self.study_id, "session_id": self.session_id,
                "user_id": self.user_id}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> CallLeft:
        return cls(wire["study_id"], wire["session_id"], wire.get("user_id"))


@dataclass(frozen=True, slots=True)
class CheckHeads:
    """Every room compares its seq with the database (a node died or restarted)."""

    kind: ClassVar[str] = "check_heads"

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> CheckHeads:
        return cls()


@dataclass(frozen=True, slots=True)
class SettingsChanged:
    """System settings were written: clear the cached copy."""

    kind: ClassVar[str] = "settings"

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.kind}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SettingsChanged:
        return cls()


BusMessage = (EventsPublished | StudyPush | RemovedFromRoom | UserPush | SessionsRevoked
              | CloseConnection | Relay | PresenceLost | PresenceRestored | CallLeft
              | CheckHeads | SettingsChanged)

KINDS: dict[str, type[BusMessage]] = {
    cls.kind: cls for cls in (
        EventsPublished, StudyPush, RemovedFromRoom, UserPush, SessionsRevoked, CloseConnection,
        Relay, PresenceLost, PresenceRestored, CallLeft, CheckHeads, SettingsChanged)
}


def decode(wire: dict[str, Any]) -> BusMessage | None:
    """The message a wire object stands for; None (logged) for an unknown or malformed one."""
    cls = KINDS.get(str(wire.get("t")))
    if cls is None:
        log.warning("unknown bus message type %r", wire.get("t"))
        return None
    try:
        message: BusMessage = cls.from_wire(wire)
    except (KeyError, TypeError, ValueError):
        log.warning("dropping a malformed %r bus message", wire.get("t"))
        return None
    return message
