"""Node coordination: `memory://` (one process) or Redis Streams (a cluster)."""

from __future__ import annotations

from coup.bus.base import Bus
from coup.config import Settings


def make_bus(settings: Settings) -> Bus:
    """The bus chosen by COUP_REDIS_URL: Redis Streams when set, else in-process."""
    if settings.redis_url:
        from coup.bus.redis_streams import RedisStreamBus

        return RedisStreamBus(settings.redis_url, settings.node_id, settings.redis_prefix)
    from coup.bus.memory import MemoryBus

    return MemoryBus(settings.node_id)
