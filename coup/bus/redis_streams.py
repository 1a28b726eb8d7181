"""RedisStreamBus: node coordination through Redis Streams (ARCHITECTURE §5).

Key layout (all under COUP_REDIS_PREFIX, default `coup:`):

    node:{node}:inbox         stream  messages for one node, trimmed with MAXLEN ~
    node:{node}:alive         string  heartbeat, expires after NODE_TTL_SECONDS
    nodes                     set     node ids that registered (live or not yet cleaned up)
    node:{node}:studies       set     studies that node has a room for (cleanup index)
    node:{node}:users         set     users that node has sessions of (cleanup index)
    study:{study}:nodes       set     routing: nodes with a room for the study
    user:{user}:nodes         set     routing: nodes with sessions of the user
    study:{study}:online      hash    "{user}|{node}" -> that node's sessions of the user
    study:{study}:online_info hash    user -> UserSummary JSON of online users
    study:{study}:call        hash    session -> participant JSON (with its node)
    rate:{key}                zset    sliding-window hits
    lock:job:{name}           string  one node runs a job at a time

One reader task per node reads its inbox in batches (XREAD BLOCK) and hands each message to
the realtime front door; one writer task sends queued publishes in pipelined batches. Both are
supervised: an error marks the bus unhealthy (readiness reports it), they retry with backoff,
and after a reconnect the node re-registers its state (idempotently) and every room re-checks
its seq against the database, which repairs whatever was missed while Redis was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from coup import metrics
from coup.bus import redis_lua
from coup.bus.base import Bus, BusHandler, CallFullError, CallSeats, OfflineUsers, PresenceChange
from coup.bus.messages import (
    BusMessage,
    CallLeft,
    CheckHeads,
    PresenceLost,
    PresenceRestored,
    decode,
)
from coup.ratelimit import SlidingWindowLimiter

log = logging.getLogger(__name__)

# A node whose heartbeat is older than this is dead; survivors clean up after it.
NODE_TTL_SECONDS = 10
HEARTBEAT_INTERVAL_SECONDS = 2.0
# Inbox streams keep about this many entries; a reader far behind repairs from the database.
INBOX_MAXLEN = 100_000
# Messages read per XREAD and how long one read blocks.
READ_BATCH = 1000
READ_BLOCK_MS = 1000
# Publishes waiting while Redis is unreachable; beyond this the oldest are dropped (the
# receivers repair from the database, so nothing durable is lost).
MAX_QUEUED_PUBLISHES = 200_000
RETRY_DELAYS_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)


class RedisStreamBus(Bus):
    def __init__(self, url: str, node_id: str, prefix: str = "coup:") -> None:
        self.node_id = node_id
        self.prefix = prefix
        self._redis = aioredis.Redis.from_url(url, decode_responses=True,
                                              socket_timeout=5, socket_connect_timeout=2,
                                              health_check_interval=10)
        # The reader blocks on XREAD; it gets its own connection so writes never wait for it.
        self._reader_redis = aioredis.Redis.from_url(url, decode_responses=True,
                                                     socket_connect_timeout=2,
                                                     socket_timeout=READ_BLOCK_MS / 1000 + 5)
        self._outbox: deque[tuple[str, tuple[Any, ...]]] = deque()
        self._outbox_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._handler: BusHandler | None = None
        self._reader_ok = False
        self._writer_ok = True
        self._last_read = time.monotonic()
        self._stopping = False
        self._watched_studies: set[str] = set()
        self._watched_users: set[str] = set()
        self._presence: dict[tuple[str, str], tuple[int, str]] = {}  # (study, user) -> count
        self._calls: dict[tuple[str, str], dict[str, Any]] = {}  # (study, session) -> info
        self._connections: dict[tuple[str, str], float] = {}  # (user, session) -> opened at
        self._fallback_limiters: dict[tuple[int, float], SlidingWindowLimiter] = {}

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, handler: BusHandler) -> None:
        self._handler = handler
        try:
            # A previous run under this node id (a crash, then a restart within the heartbeat
            # TTL) left presence, call seats and routes that no survivor will ever collect.
            await self._redis.delete(self.key("node", self.node_id, "alive"))
            await self._announce_cleanup(
                await self._redis.eval(redis_lua.CLEANUP_NODE, 0, self.prefix, self.node_id))
            # ... and maybe events it committed but never published.
            self._publish("all", "", CheckHeads())
            await self._register()
            self._reader_ok = True
        except RedisError as exc:
            log.warning("Redis unreachable at start (%s); the node runs and retries", exc)
        # Read at every scrape, so they also show a reader that is stuck or failing.
        metrics.BUS_HEALTHY.set_function(lambda: 1.0 if self.healthy else 0.0)
        metrics.BUS_READER_LAG.set_function(lambda: self.reader_lag_seconds)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._supervise("bus-reader", self._read_forever)),
            loop.create_task(self._supervise("bus-writer", self._write_forever)),
            loop.create_task(self._supervise("bus-heartbeat", self._heartbeat_forever)),
        ]

    async def stop(self) -> None:
        self._stopping = True
        self._outbox_ready.set()
        # The writer sends what is still queued (the last events, offline notices), then ends.
        if len(self._tasks) > 1:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._tasks[1]), 2)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError):
            await self._unregister()
        await self._redis.aclose()
        await self._reader_redis.aclose()

    @property
    def healthy(self) -> bool:
        return self._reader_ok and self._writer_ok

    @property
    def reaches_other_processes(self) -> bool:
        return True

    @property
    def reader_lag_seconds(self) -> float:
        return time.monotonic() - self._last_read

    async def _register(self) -> bool:
        """Heartbeat; True when this node was not registered (first start, or removed)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self.key("node", self.node_id, "alive"), str(time.time()), ex=NODE_TTL_SECONDS)
        pipe.sadd(self.key("nodes"), self.node_id)
        return bool((await pipe.execute())[1])

    async def _unregister(self) -> None:
        """A clean stop: remove this node at once instead of waiting for its heartbeat."""
        await self._redis.delete(self.key("node", self.node_id, "alive"))
        await self._announce_cleanup(
            await self._redis.eval(redis_lua.CLEANUP_NODE, 0, self.prefix, self.node_id))
        while self._outbox:
            await self._flush_outbox()

    async def _announce_cleanup(self, raw: str | None) -> None:
        """Tell the rooms on other nodes who went offline and who left the call."""
        offline, calls = _decode_cleanup(raw)
        for study_id, user_id in offline:
            self._publish("study", study_id, PresenceLost(study_id, user_id))
        for study_id, session_id, info in calls:
            self._publish("study", study_id, CallLeft(study_id, session_id,
                                                      info.get("user", {}).get("id")))
        await self._flush_outbox()

    async def _supervise(self, name: str, body: Callable[[], Any]) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = RETRY_DELAYS_SECONDS[min(attempt, len(RETRY_DELAYS_SECONDS) - 1)]
                if attempt == 0:
                    log.warning("%s failed (%s); retrying", name, exc)
                attempt += 1
                await asyncio.sleep(delay)

    # --- reading ------------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        inbox = self.key("node", self.node_id, "inbox")
        last_id: str | None = None
        while not self._stopping:
            try:
                if last_id is None:
                    # Start after the newest entry, by its id: reading from "$" every time
                    # would skip what arrives between one read's return and the next call.
                    newest = await self._reader_redis.xrevrange(inbox, count=1)
                    last_id = _text(newest[0][0]) if newest else "0-0"
                batches = await self._reader_redis.xread({inbox: last_id}, count=READ_BATCH,
                                                         block=READ_BLOCK_MS)
            except (RedisError, OSError) as exc:
                if self._reader_ok:
                    log.warning("bus reader lost Redis: %s", exc)
                self._reader_ok = False
                await asyncio.sleep(0.5)
                continue
            self._last_read = time.monotonic()
            if not self._reader_ok:
                await self._reconnected()
                # Whatever was queued for us before the outage is repaired from the database.
                last_id = None
                continue
            for entry_id, fields in _read_entries(batches):
                last_id = entry_id
                self._handle_entry(fields)

    def _handle_entry(self, fields: dict[str, str]) -> None:
        try:
            wire = json.loads(fields["m"])
        except (KeyError, ValueError):
            log.warning("dropping a malformed bus entry")
            return
        if not isinstance(wire, dict):
            log.warning("dropping a malformed bus entry")
            return
        metrics.BUS_MESSAGES_IN.labels(str(wire.get("t", "?"))).inc()
        sent_at = wire.get("at")
        if isinstance(sent_at, float):
            metrics.BUS_DELIVERY_SECONDS.observe(max(0.0, time.time() - sent_at))
        message = decode(wire)
        if message is None or self._handler is None:
            return
        try:
            self._handler.on_message(message)
        except Exception:
            log.exception("handling bus message %s failed", message.kind)

    async def _reconnected(self) -> None:
        log.info("bus reader reconnected to Redis; resyncing node state")
        await self._resync()
        self._reader_ok = True
        if self._handler is not None:
            self._handler.on_reconnected()

    async def _resync(self) -> None:
        """Re-register this node's routing, presence and call state. Every write is idempotent,
        so it is safe whether Redis lost its data (restart) or only the connection dropped."""
        await self._register()
        pipe = self._redis.pipeline(transaction=False)
        for study_id in self._watched_studies:
            pipe.sadd(self.key("study", study_id, "nodes"), self.node_id)
            pipe.sadd(self.key("node", self.node_id, "studies"), study_id)
        for user_id in self._watched_users:
            pipe.sadd(self.key("user", user_id, "nodes"), self.node_id)
            pipe.sadd(self.key("node", self.node_id, "users"), user_id)
        presence = list(self._presence.items())
        for (study_id, user_id), (count, summary) in presence:
            pipe.eval(redis_lua.PRESENCE_SET, 2, self.key("study", study_id, "online"),
                      self.key("study", study_id, "online_info"), user_id, self.node_id, count,
                      summary)
        for (study_id, session_id), info in self._calls.items():
            pipe.hset(self.key("study", study_id, "call"), session_id, json.dumps(info))
        for (user_id, session_id), opened_at in self._connections.items():
            pipe.zadd(self.key("user", user_id, "conns"),
                      {f"{self.node_id}|{session_id}": opened_at})
        results = await pipe.execute()
        # Users this node still serves whom the others had dropped (this node was taken for
        # dead during a pause or a partition): they are online again (PROTOCOL §6).
        first = 2 * (len(self._watched_studies) + len(self._watched_users))
        for ((study_id, _user_id), (_count, summary)), was_added in zip(
                presence, results[first:first + len(presence)], strict=True):
            if int(was_added):
                self._publish("study", study_id, PresenceRestored(study_id, json.loads(summary)))

    # --- writing ------------------------------------------------------------------------------

    def _publish(self, kind: str, target: str, message: BusMessage) -> None:
        wire = {**message.to_wire(), "from": self.node_id, "at": time.time()}
        self._outbox.append((kind, (target, json.dumps(wire, ensure_ascii=False))))
        metrics.BUS_MESSAGES_OUT.labels(message.kind).inc()
        if len(self._outbox) > MAX_QUEUED_PUBLISHES:
            self._outbox.popleft()
            metrics.BUS_DROPPED.inc()
        self._outbox_ready.set()

    async def _write_forever(self) -> None:
        while not self._stopping or (self._outbox and self._writer_ok):
            if not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            try:
                await self._flush_outbox()
                if not self._writer_ok:
                    log.info("bus writer reconnected to Redis")
                self._writer_ok = True
            except (RedisError, OSError) as exc:
                if self._writer_ok:
                    log.warning("bus writer lost Redis (%d queued): %s", len(self._outbox), exc)
                self._writer_ok = False
                await asyncio.sleep(0.5)

    async def _flush_outbox(self) -> None:
        if not self._outbox:
            return
        batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), 500))]
        started = time.perf_counter()
        pipe = self._redis.pipeline(transaction=False)
        for kind, (target, payload) in batch:
            if kind == "node":
                pipe.xadd(self.key("node", target, "inbox"), {"m": payload},
                          maxlen=INBOX_MAXLEN, approximate=True)
            else:
                routing = self.key("nodes") if kind == "all" else self.key(kind, target, "nodes")
                pipe.eval(redis_lua.PUBLISH_TO_SET, 1, routing, self.prefix, self.node_id,
                          payload, INBOX_MAXLEN)
        try:
            await pipe.execute()
        except (RedisError, OSError):
            self._outbox.extendleft(reversed(batch))  # keep them for the retry
            raise
        metrics.BUS_PUBLISH_SECONDS.observe(time.perf_counter() - started)

    def publish_study(self, study_id: str, message: BusMessage) -> None:
        self._publish("study", study_id, message)

    def publish_user(self, user_id: str, message: BusMessage) -> None:
        self._publish("user", user_id, message)

    def publish_node(self, node_id: str, message: BusMessage) -> None:
        if node_id != self.node_id:
            self._publish("node", node_id, message)

    def publish_all(self, message: BusMessage) -> None:
        self._publish("all", "", message)

    # --- heartbeat and dead nodes -------------------------------------------------------------

    async def _heartbeat_forever(self) -> None:
        while not self._stopping:
            try:
                if await self._register() and self._reader_ok:
                    # The others took this node for dead (a pause, a partition) and removed
                    # its routes and presence: put them back and repair what it missed.
                    log.warning("node %s had been removed from the cluster; re-registering",
                                self.node_id)
                    await self._resync()
                    if self._handler is not None:
                        self._handler.on_reconnected()
                await self._collect_dead_nodes()
            except (RedisError, OSError) as exc:
                log.debug("heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)

    async def _collect_dead_nodes(self) -> None:
        nodes = await self._redis.smembers(self.key("nodes"))
        for node in map(_text, nodes):
            if node == self.node_id:
                continue
            if await self._redis.exists(self.key("node", node, "alive")):
                continue
            raw = await self._redis.eval(redis_lua.CLEANUP_NODE, 0, self.prefix, node)
            if not raw:
                continue
            offline, calls = _decode_cleanup(raw)
            log.warning("node %s stopped heartbeating; removed it (%d users offline, %d call "
                        "participants)", node, len(offline), len(calls))
            metrics.BUS_DEAD_NODES.inc()
            if self._handler is not None:
                self._handler.on_node_dead(offline, calls)

    # --- routing ------------------------------------------------------------------------------

    async def watch_study(self, study_id: str) -> None:
        self._watched_studies.add(study_id)
        await self._quietly(self._add_route("study", study_id, "studies"))

    async def unwatch_study(self, study_id: str) -> None:
        self._watched_studies.discard(study_id)
        await self._quietly(self._remove_route("study", study_id, "studies"))

    async def watch_user(self, user_id: str) -> None:
        self._watched_users.add(user_id)
        await self._quietly(self._add_route("user", user_id, "users"))

    async def unwatch_user(self, user_id: str) -> None:
        self._watched_users.discard(user_id)
        await self._quietly(self._remove_route("user", user_id, "users"))

    async def _add_route(self, kind: str, target: str, index: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(self.key(kind, target, "nodes"), self.node_id)
        pipe.sadd(self.key("node", self.node_id, index), target)
        await pipe.execute()

    async def _remove_route(self, kind: str, target: str, index: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.srem(self.key(kind, target, "nodes"), self.node_id)
        pipe.srem(self.key("node", self.node_id, index), target)
        await pipe.execute()

    async def _quietly(self, operation: Any) -> Any:
        """Routing writes during an outage are redone by the resync after it."""
        try:
            return await operation
        except (RedisError, OSError) as exc:
            log.debug("bus write skipped while Redis is unreachable: %s", exc)
            return None

    # --- presence -----------------------------------------------------------------------------

    async def presence_join(self, study_id: str, user: dict[str, Any]) -> PresenceChange:
        key = (study_id, user["id"])
        summary = json.dumps(user, ensure_ascii=False)
        count = self._presence.get(key, (0, summary))[0] + 1
        self._presence[key] = (count, summary)
        result = await self._quietly(self._redis.eval(
            redis_lua.PRESENCE_CHANGE, 2, self.key("study", study_id, "online"),
            self.key("study", study_id, "online_info"), user["id"], self.node_id, 1, summary))
        if result is None:
            return PresenceChange(became_online=count == 1)
        before, _after = (int(v) for v in result)
        return PresenceChange(became_online=before == 0)

    async def presence_leave(self, study_id: str, user_id: str) -> PresenceChange:
        key = (study_id, user_id)
        count, summary = self._presence.get(key, (1, ""))
        if count <= 1:
            self._presence.pop(key, None)
        else:
            self._presence[key] = (count - 1, summary)
        result = await self._quietly(self._redis.eval(
            redis_lua.PRESENCE_CHANGE, 2, self.key("study", study_id, "online"),
            self.key("study", study_id, "online_info"), user_id, self.node_id, -1, ""))
        if result is None:
            return PresenceChange(became_offline=count <= 1)
        _before, after = (int(v) for v in result)
        return PresenceChange(became_offline=after == 0)

    async def online_users(self, study_id: str) -> dict[str, dict[str, Any]]:
        raw = await self._quietly(self._redis.hgetall(self.key("study", study_id, "online_info")))
        if raw is None:  # Redis away: this node's own view
            return {user_id: json.loads(summary) for (sid, user_id), (_, summary)
                    in self._presence.items() if sid == study_id}
        return {user_id: json.loads(summary) for user_id, summary in raw.items()}

    # --- calls --------------------------------------------------------------------------------

    async def call_join(self, study_id: str, session_id: str, info: dict[str, Any],
                        cap: int) -> dict[str, dict[str, Any]]:
        info = {**info, "node": self.node_id}
        try:
            raw = await self._redis.eval(redis_lua.CALL_JOIN, 1,
                                         self.key("study", study_id, "call"), session_id,
                                         json.dumps(info, ensure_ascii=False), cap)
        except ResponseError as exc:
            if "CALL_FULL" in str(exc):
                raise CallFullError(study_id) from None
            raise
        self._calls[(study_id, session_id)] = info
        participants = {raw[i]: json.loads(raw[i + 1]) for i in range(0, len(raw), 2)}
        participants.pop(session_id, None)
        return participants

    async def call_update(self, study_id: str, session_id: str, info: dict[str, Any]) -> None:
        info = {**info, "node": self.node_id}
        self._calls[(study_id, session_id)] = info
        await self._quietly(self._redis.hset(self.key("study", study_id, "call"), session_id,
                                             json.dumps(info, ensure_ascii=False)))

    async def call_leave(self, study_id: str, session_id: str) -> bool:
        self._calls.pop((study_id, session_id), None)
        removed = await self._quietly(self._redis.hdel(self.key("study", study_id, "call"),
                                                       session_id))
        return bool(removed)

    async def call_participants(self, study_id: str) -> dict[str, dict[str, Any]]:
        raw = await self._quietly(self._redis.hgetall(self.key("study", study_id, "call")))
        if raw is None:
            return {sid: info for (study, sid), info in self._calls.items() if study == study_id}
        return {sid: json.loads(info) for sid, info in raw.items()}

    # --- connections per user -------------------------------------------------------------------

    async def connection_opened(self, user_id: str, session_id: str,
                                limit: int) -> list[tuple[str, str]]:
        self._connections[(user_id, session_id)] = time.time()
        excess = await self._quietly(self._redis.eval(
            redis_lua.CONNECTION_OPENED, 1, self.key("user", user_id, "conns"),
            f"{self.node_id}|{session_id}", time.time(), limit))
        return [tuple(member.split("|", 1)) for member in excess or ()]

    async def connection_closed(self, user_id: str, session_id: str) -> None:
        self._connections.pop((user_id, session_id), None)
        await self._quietly(self._redis.zrem(self.key("user", user_id, "conns"),
                                             f"{self.node_id}|{session_id}"))

    # --- limits and locks ---------------------------------------------------------------------

    async def hit_rate(self, key: str, count: int, window_seconds: float) -> float:
        now_ms = int(time.time() * 1000)
        member = f"{now_ms}:{self.node_id}:{time.perf_counter_ns()}"
        try:
            wait_ms = await self._redis.eval(redis_lua.RATE_HIT, 1, self.key("rate", key),
                                             now_ms, int(window_seconds * 1000), count, member)
            return int(wait_ms) / 1000
        except (RedisError, OSError):
            # Redis away: limit per node rather than not at all.
            limiter = self._fallback_limiters.setdefault(
                (count, window_seconds), SlidingWindowLimiter(count, window_seconds))
            return limiter.hit(key)

    async def acquire_job_lock(self, name: str, ttl_seconds: float) -> bool:
        result = await self._quietly(self._redis.set(
            self.key("lock", "job", name), self.node_id, nx=True, px=int(ttl_seconds * 1000)))
        return bool(result)

    async def release_job_lock(self, name: str) -> None:
        await self._quietly(self._redis.eval(redis_lua.RELEASE_LOCK, 1,
                                             self.key("lock", "job", name), self.node_id))


async def publish_to_every_node(url: str, prefix: str, sender: str,
                                message: BusMessage) -> int:
    """Put one message in the inbox of every registered node, from a process that is not a
    node (the CLI); returns how many inboxes got it. Raises RedisError when Redis is away."""
    client = aioredis.Redis.from_url(url, decode_responses=True, socket_timeout=5,
                                     socket_connect_timeout=2)
    try:
        payload = json.dumps({**message.to_wire(), "from": sender, "at": time.time()},
                             ensure_ascii=False)
        return int(await client.eval(redis_lua.PUBLISH_TO_SET, 1, prefix + "nodes", prefix,
                                     sender, payload, INBOX_MAXLEN))
    finally:
        await client.aclose()


def _text(value: bytes | str | None) -> str:
    """A reply value as the str it is: both clients decode responses (decode_responses=True),
    so the `bytes | str` redis-py declares is always str here."""
    if not isinstance(value, str):
        raise TypeError(f"undecoded Redis reply value: {value!r}")
    return value


def _read_entries(reply: object) -> Iterator[tuple[str, dict[str, str]]]:
    """The (entry id, fields) of an XREAD reply, in order. redis-py hands the reply back as
    `[[stream, [(id, fields), ...]], ...]` (empty, or None, when the block timed out); its
    types also admit the dict shape of its opt-in unified responses, which these clients
    do not ask for."""
    if reply is None:
        return
    if not isinstance(reply, list):
        raise TypeError(f"unexpected XREAD reply: {type(reply).__name__}")
    for _stream, entries in reply:
        for entry_id, fields in entries:
            yield _text(entry_id), fields


def _decode_cleanup(raw: str | None) -> tuple[OfflineUsers, CallSeats]:
    if not raw:
        return [], []
    data = json.loads(raw)
    # cjson encodes an empty Lua table as {} rather than [].
    offline = [tuple(pair) for pair in (data.get("offline") or [])] \
        if isinstance(data.get("offline"), list) else []
    calls_raw = data.get("calls") if isinstance(data.get("calls"), list) else []
    calls = [(study, session, json.loads(info)) for study, session, info in calls_raw]
    return offline, calls
