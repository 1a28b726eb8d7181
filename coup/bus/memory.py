"""MemoryBus: the embedded default, for one process with no Redis (`memory://`).

Every session is on this node, so publishing has no one to reach; the cluster-wide state
(presence counts, call participants, rate windows, job locks) lives in plain dicts.
"""

from __future__ import annotations

import time
from typing import Any

from coup.bus.base import Bus, BusHandler, CallFullError, PresenceChange
from coup.bus.messages import BusMessage
from coup.ratelimit import SlidingWindowLimiter


class MemoryBus(Bus):
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._presence: dict[str, dict[str, int]] = {}  # study -> user -> sessions
        self._users: dict[str, dict[str, dict[str, Any]]] = {}  # study -> user -> summary
        self._calls: dict[str, dict[str, dict[str, Any]]] = {}  # study -> session -> info
        self._limiters: dict[tuple[int, float], SlidingWindowLimiter] = {}
        self._locks: dict[str, float] = {}
        self._connections: dict[str, dict[str, float]] = {}  # user -> session -> opened at

    async def start(self, handler: BusHandler) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def healthy(self) -> bool:
        return True

    @property
    def reaches_other_processes(self) -> bool:
        return False

    async def watch_study(self, study_id: str) -> None:
        return None

    async def unwatch_study(self, study_id: str) -> None:
        return None

    async def watch_user(self, user_id: str) -> None:
        return None

    async def unwatch_user(self, user_id: str) -> None:
        return None

    def publish_study(self, study_id: str, message: BusMessage) -> None:
        return None

    def publish_user(self, user_id: str, message: BusMessage) -> None:
        return None

    def publish_node(self, node_id: str, message: BusMessage) -> None:
        return None

    def publish_all(self, message: BusMessage) -> None:
        return None

    async def presence_join(self, study_id: str, user: dict[str, Any]) -> PresenceChange:
        counts = self._presence.setdefault(study_id, {})
        counts[user["id"]] = counts.get(user["id"], 0) + 1
        self._users.setdefault(study_id, {})[user["id"]] = user
        return PresenceChange(became_online=counts[user["id"]] == 1)

    async def presence_leave(self, study_id: str, user_id: str) -> PresenceChange:
        counts = self._presence.get(study_id, {})
        remaining = counts.get(user_id, 0) - 1
        if remaining > 0:
            counts[user_id] = remaining
            return PresenceChange()
        counts.pop(user_id, None)
        self._users.get(study_id, {}).pop(user_id, None)
        if not counts:
            self._presence.pop(study_id, None)
            self._users.pop(study_id, None)
        return PresenceChange(became_offline=remaining == 0)

    async def online_users(self, study_id: str) -> dict[str, dict[str, Any]]:
        return dict(self._users.get(study_id, {}))

    async def call_join(self, study_id: str, session_id: str, info: dict[str, Any],
                        cap: int) -> dict[str, dict[str, Any]]:
        call = self._calls.setdefault(study_id, {})
        if session_id not in call and len(call) >= cap:
            raise CallFullError(study_id)
        others = {sid: p for sid, p in call.items() if sid != session_id}
        call[session_id] = {**info, "node": self.node_id}
        return others

    async def call_update(self, study_id: str, session_id: str, info: dict[str, Any]) -> None:
        call = self._calls.get(study_id, {})
        if session_id in call:
            call[session_id] = {**info, "node": self.node_id}

    async def call_leave(self, study_id: str, session_id: str) -> bool:
        call = self._calls.get(study_id, {})
        removed = call.pop(session_id, None) is not None
        if not call:
            self._calls.pop(study_id, None)
        return removed

    async def call_participants(self, study_id: str) -> dict[str, dict[str, Any]]:
        return dict(self._calls.get(study_id, {}))

    async def connection_opened(self, user_id: str, session_id: str,
                                limit: int) -> list[tuple[str, str]]:
        mine = self._connections.setdefault(user_id, {})
        mine[session_id] = time.monotonic()
        excess = sorted(mine, key=mine.__getitem__)[: max(0, len(mine) - limit)]
        return [(self.node_id, sid) for sid in excess]

    async def connection_closed(self, user_id: str, session_id: str) -> None:
        mine = self._connections.get(user_id, {})
        mine.pop(session_id, None)
        if not mine:
            self._connections.pop(user_id, None)

    async def hit_rate(self, key: str, count: int, window_seconds: float) -> float:
        limiter = self._limiters.get((count, window_seconds))
        if limiter is None:
            limiter = self._limiters[(count, window_seconds)] = SlidingWindowLimiter(
                count, window_seconds)
        return limiter.hit(key)

    async def acquire_job_lock(self, name: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        if self._locks.get(name, 0) > now:
            return False
        self._locks[name] = now + ttl_seconds
        return True

    async def release_job_lock(self, name: str) -> None:
        self._locks.pop(name, None)
