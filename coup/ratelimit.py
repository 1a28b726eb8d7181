"""Every rate limit of a node (COUP.md §1 item 14), in one `Limits` object.

A limit is either this node's own (`LocalLimit`, an in-memory sliding window: sign-up, login
per IP, invite look-ups; with several nodes the effective limit is per node) or the cluster's
(`SharedLimit`, counted through the bus: chat, uploads, password guesses, whichever node the
request lands on). Reports are counted in the database by the store; their rate is here too.

Each in-memory limiter keeps, per key, the times of the hits inside its window. Memory is
bounded: keys whose hits have all left the window are dropped on the next sweep, and a limiter
never holds more than MAX_KEYS keys (the oldest are evicted first), so a flood of distinct keys
cannot grow it without bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

from coup.config import RateLimit, Settings

# Upper bound on tracked keys per limiter; beyond it the least recently hit keys are evicted.
MAX_KEYS = 100_000
# How often, in hits, a limiter sweeps out keys with no hit left in the window.
SWEEP_EVERY_HITS = 1000


class SlidingWindowLimiter:
    """Allows `count` hits per `window_seconds` per key."""

    def __init__(
        self, count: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.count = count
        self.window_seconds = window_seconds
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._since_sweep = 0

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may hit again; 0 when a hit is allowed now."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            return 0.0
        self._expire(hits, now)
        if len(hits) < self.count:
            return 0.0
        return max(0.001, hits[0] + self.window_seconds - now)

    def hit(self, key: str) -> float:
        """Record a hit if allowed; returns 0 when recorded, else the seconds to wait."""
        wait = self.retry_after(key)
        if wait:
            return wait
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        self._hits.move_to_end(key)
        hits.append(now)
        self._maybe_sweep(now)
        return 0.0

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)

    def __len__(self) -> int:
        return len(self._hits)

    def _expire(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()

    def _maybe_sweep(self, now: float) -> None:
        while len(self._hits) > MAX_KEYS:
            self._hits.popitem(last=False)
        self._since_sweep += 1
        if self._since_sweep < SWEEP_EVERY_HITS:
            return
        self._since_sweep = 0
        for key in [k for k, hits in self._hits.items() if not hits or
                    hits[-1] <= now - self.window_seconds]:
            del self._hits[key]


class RateStore(Protocol):
    """Where cluster-wide hits are counted (the bus: a Redis sorted set, or this process)."""

    async def hit_rate(self, key: str, count: int, window_seconds: float) -> float: ...


class LocalLimit:
    """A limit counted on this node only."""

    def __init__(self, rate: RateLimit) -> None:
        self.rate = rate
        self._window = SlidingWindowLimiter(rate.count, rate.window_seconds)

    def retry_after(self, key: str) -> float:
        return self._window.retry_after(key)

    async def hit(self, key: str) -> float:
        """Record a hit if allowed; 0 when recorded, else the seconds to wait."""
        return self._window.hit(key)


class SharedLimit:
    """A limit counted across the cluster under `name:key`."""

    def __init__(self, name: str, rate: RateLimit, store: RateStore) -> None:
        self.name = name
        self.rate = rate
        self._store = store

    async def hit(self, key: str) -> float:
        return await self._store.hit_rate(f"{self.name}:{key}", self.rate.count,
                                          self.rate.window_seconds)


# Wrong current passwords allowed per user (password change and account deletion share it).
PASSWORD_GUESSES = RateLimit(5, 15 * 60)


class Limits:
    """The node's limits, built from its settings at start. Tests replace one attribute for a
    while (tests/wsclient.py override_limit)."""

    def __init__(self, settings: Settings, store: RateStore) -> None:
        self.signup = LocalLimit(settings.signup_rate)
        self.login_ip = LocalLimit(settings.login_ip_rate)
        self.invite_lookup = LocalLimit(settings.invite_lookup_rate)
        self.chat = SharedLimit("chat", settings.chat_rate, store)
        self.upload = SharedLimit("upload", settings.upload_rate, store)
        self.password = SharedLimit("password", PASSWORD_GUESSES, store)
        self.report = settings.report_rate  # counted in the database (coup/store/reports.py)
