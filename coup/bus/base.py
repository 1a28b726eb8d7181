"""The node-coordination bus: one interface, two implementations (ARCHITECTURE §5).

`MemoryBus` (embedded default) serves one process: every session is local, so it has nothing
to send anywhere and keeps presence, calls and limits in dicts. `RedisStreamBus` serves a
cluster: each node reads its own inbox stream, and messages go only to the nodes that have
sessions for the study or user concerned.

The bus carries only what is already committed (or ephemeral, like typing and signalling): it
is never the only copy of durable data. A lost bus message is repaired from the database by the
receiving room (seq gap repair), so publishing never blocks or fails a write.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Protocol

from coup.bus.messages import BusMessage

# What a dead node left behind: (study, user) gone offline, (study, session, info) out of calls.
OfflineUsers = list[tuple[str, str]]
CallSeats = list[tuple[str, str, dict[str, Any]]]


class BusHandler(Protocol):
    """What the bus calls on this node (the realtime front door, coup/actors/realtime.py)."""

    def on_message(self, message: BusMessage) -> None:
        """A message from another node."""

    def on_reconnected(self) -> None:
        """The bus is back after an outage: rooms repair the gaps it may have left."""

    def on_node_dead(self, offline: OfflineUsers, calls: CallSeats) -> None:
        """This node cleaned up after a dead one: tell the rooms here and on other nodes."""


@dataclass(frozen=True)
class PresenceChange:
    """Whether a user's cluster-wide presence in a study flipped."""

    became_online: bool = False
    became_offline: bool = False


class CallFullError(Exception):
    """The call already has the maximum number of participants."""


class Bus(abc.ABC):
    node_id: str

    # --- lifecycle ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def start(self, handler: BusHandler) -> None:
        """Start reading this node's inbox; `handler` gets each message from other nodes, the
        end of an outage and the death of other nodes."""

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @property
    @abc.abstractmethod
    def healthy(self) -> bool:
        """False while the bus cannot publish or read (readiness reports it)."""

    @property
    @abc.abstractmethod
    def reaches_other_processes(self) -> bool:
        """Whether a message from another process (another node, the CLI) can arrive here.
        Without it, the node must find other processes' revocations in the database."""

    # --- routing ------------------------------------------------------------------------------

    @abc.abstractmethod
    async def watch_study(self, study_id: str) -> None:
        """This node now has a room for the study: route its traffic here."""

    @abc.abstractmethod
    async def unwatch_study(self, study_id: str) -> None: ...

    @abc.abstractmethod
    async def watch_user(self, user_id: str) -> None:
        """This node now has a session of the user: route their pushes here."""

    @abc.abstractmethod
    async def unwatch_user(self, user_id: str) -> None: ...

    @abc.abstractmethod
    def publish_study(self, study_id: str, message: BusMessage) -> None:
        """To the other nodes that have a room for the study (never blocks)."""

    @abc.abstractmethod
    def publish_user(self, user_id: str, message: BusMessage) -> None:
        """To the other nodes that have sessions of the user (never blocks)."""

    @abc.abstractmethod
    def publish_node(self, node_id: str, message: BusMessage) -> None:
        """To one other node (a signalling relay to a session there)."""

    @abc.abstractmethod
    def publish_all(self, message: BusMessage) -> None:
        """To every other live node (revocations, settings cache clears)."""

    # --- cluster-wide state -------------------------------------------------------------------

    @abc.abstractmethod
    async def presence_join(self, study_id: str, user: dict[str, Any]) -> PresenceChange:
        """One more session of the user in the study's room on this node."""

    @abc.abstractmethod
    async def presence_leave(self, study_id: str, user_id: str) -> PresenceChange:
        """One fewer session of the user in the study's room on this node."""

    @abc.abstractmethod
    async def online_users(self, study_id: str) -> dict[str, dict[str, Any]]:
        """user id -> UserSummary of everyone online in the study, cluster-wide."""

    @abc.abstractmethod
    async def call_join(self, study_id: str, session_id: str, info: dict[str, Any],
                        cap: int) -> dict[str, dict[str, Any]]:
        """Add a participant atomically under the cap (CallFullError); returns the others."""

    @abc.abstractmethod
    async def call_update(self, study_id: str, session_id: str, info: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def call_leave(self, study_id: str, session_id: str) -> bool: ...

    @abc.abstractmethod
    async def call_participants(self, study_id: str) -> dict[str, dict[str, Any]]:
        """session id -> participant info (with its node) of the study's call."""

    @abc.abstractmethod
    async def connection_opened(self, user_id: str, session_id: str,
                                limit: int) -> list[tuple[str, str]]:
        """Count a user's connection cluster-wide; returns (node, session id) of the oldest
        connections beyond `limit`, which must be closed (PROTOCOL §9)."""

    @abc.abstractmethod
    async def connection_closed(self, user_id: str, session_id: str) -> None: ...

    @abc.abstractmethod
    async def hit_rate(self, key: str, count: int, window_seconds: float) -> float:
        """A cluster-wide sliding-window limit: 0 when allowed, else seconds to wait."""

    @abc.abstractmethod
    async def acquire_job_lock(self, name: str, ttl_seconds: float) -> bool:
        """Jobs run on one node at a time (COUP.md §12)."""

    @abc.abstractmethod
    async def release_job_lock(self, name: str) -> None:
        """Give a job's claim up, if this node still holds it."""
