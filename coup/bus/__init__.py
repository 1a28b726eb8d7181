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


class BusJobLock:
    """COUP.md §12: a job runs on one node at a time; the claim lives in the bus (a Redis key
    with a TTL in a cluster, so a node that dies mid-run frees it). A `coup.jobs.JobLock`."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def acquire(self, job: str, ttl_seconds: float) -> bool:
        return await self.bus.acquire_job_lock(job, ttl_seconds)

    async def release(self, job: str) -> None:
        await self.bus.release_job_lock(job)
