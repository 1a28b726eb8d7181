"""The load generator: one process, pinned by the runner to its own core, that drives a scenario
against one server and prints the measurements as JSON on its last stdout line.

    python -m bench.loadgen SPEC.json

Everything runs on one asyncio loop (bench/wsclient.py). Messages are sent on a schedule (a
rate, spread evenly), each carrying its send time (perf_counter_ns) in its content and a ref, so
the sender's reply gives the acknowledgement latency and a sample of receivers (a few per room)
gives the delivery latency. The process reports its own CPU use (CPU seconds / wall seconds)
and the server's, read from /proc, for every measured window.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import math
import os
import resource
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.wsclient import WsClient, client_frame, open_client

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAD = "a typical chat message of about sixty characters, for the benchmark"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(ns: float | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def latency_summary(latencies: list[int]) -> dict[str, Any]:
    return {"samples": len(latencies), "p50_ms": ms(percentile(latencies, 50)),
            "p99_ms": ms(percentile(latencies, 99)),
            "max_ms": ms(max(latencies) if latencies else None)}


def server_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (all threads)


def server_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cores_busy_seconds() -> list[float]:
    """Busy (not idle, not iowait) seconds of each core since boot, from /proc/stat."""
    busy = []
    with open("/proc/stat") as handle:
        for line in handle:
            if line.startswith("cpu") and line[3].isdigit():
                ticks = [int(x) for x in line.split()[1:]]
                busy.append((sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS)
    return busy


def pids_named(command: str) -> list[int]:
    """Every process whose command name is `command`; scanning /proc takes milliseconds, so it
    is done before a measurement window, not inside it."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() == command:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def postgres_pids() -> list[int]:
    """Every PostgreSQL process (backends of other clients included)."""
    return pids_named("postgres")


def redis_pids() -> list[int]:
    """Every redis-server process (a shared Redis serves other clients too)."""
    return pids_named("redis-server")


def processes_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process that still exists."""
    found = {}
    for pid in pids:
        try:
            found[pid] = server_cpu_seconds(pid)
        except OSError:
            continue
    return found


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Member:
    client: WsClient
    study_id: str


class Loadgen:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.host: str = spec["host"]
        self.port: int = spec["port"]
        # Processes that make up "the server": one, or the nodes of a cluster (summed).
        self.server_pids: list[int] = spec.get("server_pids") or [spec["server_pid"]]
        self.pid: int = self.server_pids[0]
        # Named processes whose CPU is also reported one by one (the nodes, HAProxy).
        self.watched: dict[str, int] = spec.get("watched_pids", {})
        self.track_redis: bool = spec.get("track_redis", False)
        self.redis_pids: list[int] = []
        self.clients: list[WsClient] = []
        self.pending: dict[int, int] = {}  # ref -> send time (ns)
        self.acks: list[int] = []
        self.errors: Counter[str] = Counter()
        self.acked = 0
        self.sent = 0
        self.skipped = 0  # sends due on a connection that was already closed
        self.lags: list[float] = []
        self.pg_pids: list[int] = []
        self._refs = itertools.count(1)
        self._tag = uuid.uuid4().hex[:10]
        self._last_send_ns = 0
        # Send time -> sender's node, kept only when deliveries are split by node
        # (track_origins); send times are unique, so they identify the message.
        self.sender_node: dict[int, str | None] | None = None

    # --- connections --------------------------------------------------------------------------

    async def connect(self, tokens: list[str | None], *, concurrency: int = 100,
                      local_hosts: list[str] | None = None) -> tuple[list[WsClient], list[str]]:
        """Open one connection per token (in order); returns (clients, failure reasons)."""
        gate = asyncio.Semaphore(concurrency)
        failures: list[str] = []
        results: list[WsClient | None] = [None] * len(tokens)

        async def one(index: int, token: str | None) -> None:
            local = local_hosts[index % len(local_hosts)] if local_hosts else None
            async with gate:
                try:
                    results[index] = await open_client(
                        self.host, self.port, "/ws", token, local_host=local,
                        on_ack=self.on_ack)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
        clients = [c for c in results if c is not None]
        self.clients.extend(clients)
        return clients, failures

    async def join(self, members: list[Member], concurrency: int = 100) -> list[str]:
        gate = asyncio.Semaphore(concurrency)
        failures: list[str] = []

        async def one(member: Member) -> None:
            async with gate:
                try:
                    reply = await member.client.request("study:join",
                                                        {"study_id": member.study_id})
                    if not reply.get("ok"):
                        failures.append(str(reply.get("error")))
                except (TimeoutError, ConnectionError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(m) for m in members))
        return failures

    async def open_rooms(self, rooms: list[dict[str, Any]], senders_per_room: int,
                         samples_per_room: int, sample_from: int = 0, rcvlowat: int = 1,
                         ) -> tuple[list[list[Member]], dict[str, Any]]:
        """Connect and join every member of every room; mark senders and sample receivers."""
        started = time.perf_counter()
        tokens = [m for room in rooms for m in room["tokens"]]
        clients, failures = await self.connect(tokens)
        if failures:
            raise RuntimeError(f"{len(failures)} connections failed, e.g. {failures[0]}")
        by_room: list[list[Member]] = []
        offset = 0
        for room in rooms:
            size = len(room["tokens"])
            by_room.append([Member(c, room["study_id"]) for c in clients[offset:offset + size]])
            offset += size
        join_failures = await self.join([m for members in by_room for m in members])
        if join_failures:
            raise RuntimeError(f"{len(join_failures)} joins failed, e.g. {join_failures[0]}")
        await asyncio.sleep(0.5)  # let the join broadcasts (user:online) settle
        for members in by_room:
            for index, member in enumerate(members):
                sample = sample_from <= index < sample_from + samples_per_room
                sender = index < senders_per_room
                # Only connections that just count frames read in batches; senders and samples
                # take their timestamps frame by frame.
                member.client.start_measuring(sender=sender, sample=sample,
                                              rcvlowat=1 if sample or sender else rcvlowat)
        setup = {"connections": len(clients), "setup_seconds": round(
            time.perf_counter() - started, 2)}
        log(f"  {len(clients)} connections joined {len(rooms)} rooms in "
            f"{setup['setup_seconds']} s")
        return by_room, setup

    def close_all(self) -> None:
        for client in self.clients:
            client.close()

    # --- sending ------------------------------------------------------------------------------

    def on_ack(self, ref: int, ok: bool, code: bytes | None, now: int) -> None:
        sent = self.pending.pop(ref, None)
        if sent is None:
            return
        if ok:
            self.acked += 1
            self.acks.append(now - sent)
        else:
            self.errors[(code or b"?").decode()] += 1

    def send_chat(self, member: Member) -> None:
        client = member.client
        if not client.alive:
            self.skipped += 1
            return
        ref = next(self._refs)
        # Strictly increasing, so a send time names one message (see track_origins).
        sent = max(time.perf_counter_ns(), self._last_send_ns + 1)
        self._last_send_ns = sent
        if self.sender_node is not None:
            self.sender_node[sent] = client.node
        text = (f'{{"event":"chat:message","data":{{"study_id":"{member.study_id}",'
                f'"content":"bench:{sent}:{PAD}","client_id":"{self._tag}-{ref}"}},'
                f'"ref":{ref}}}')
        self.pending[ref] = sent
        self.sent += 1
        client.transport.write(client_frame(text.encode()))  # type: ignore[union-attr]

    async def send_at_rate(self, slots: list[Member], rate: float, seconds: float,
                           on_tick: Any = None) -> None:
        """Send `rate` messages/s for `seconds`, cycling through `slots` (evenly spread)."""
        start = time.perf_counter()
        stop = start + seconds
        done = 0
        slot = itertools.cycle(slots)
        while True:
            now = time.perf_counter()
            if now >= stop:
                break
            if on_tick is not None:
                on_tick(now)
            due = int((now - start) * rate) - done
            if due > 0:
                self.lags.append(now - (start + (done + 1) / rate))
                for _ in range(due):
                    self.send_chat(next(slot))
                done += due
            await asyncio.sleep(0.001)

    async def wait_for_acks(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while self.pending and time.perf_counter() < deadline:
            if not any(c.alive for c in self.clients):
                break
            await asyncio.sleep(0.05)

    # --- deliveries by node -------------------------------------------------------------------

    def track_origins(self) -> None:
        """From now on, split delivery latencies by whether the sample receiver is on the
        sender's node (each client's node is the `node` of its hello)."""
        self.sender_node = {}
        for client in self.clients:
            client.latencies = []  # latencies and send_times stay in step
            client.send_times = []

    def latencies_by_origin(self) -> dict[str, Any]:
        """Delivery latency percentiles for same-node and cross-node deliveries."""
        assert self.sender_node is not None
        split: dict[str, list[int]] = {"same_node": [], "cross_node": [], "unknown": []}
        for client in self.clients:
            if not client.send_times:
                continue
            for latency, sent in zip(client.latencies, client.send_times, strict=True):
                origin = self.sender_node.get(sent)
                key = "unknown" if origin is None or client.node is None else \
                    "same_node" if origin == client.node else "cross_node"
                split[key].append(latency)
        result: dict[str, Any] = {key: latency_summary(values) for key, values in split.items()
                                  if key != "unknown"}
        result["unclassified_samples"] = len(split["unknown"])
        return result

    # --- windows ------------------------------------------------------------------------------

    def servers_cpu_seconds(self) -> float:
        return sum(server_cpu_seconds(pid) for pid in self.server_pids)

    def watched_cpu_seconds(self) -> dict[str, float]:
        return {name: server_cpu_seconds(pid) for name, pid in self.watched.items()}

    def mark(self) -> dict[str, Any]:
        """Start a measurement window: reset the lists, remember the counters."""
        self.acks = []
        self.errors = Counter()
        self.lags = []
        for client in self.clients:
            if client.latencies:
                client.latencies = []
            if client.send_times:
                client.send_times = []
        return {"t": time.perf_counter(), "frames": sum(c.frames for c in self.clients),
                "sent": self.sent, "acked": self.acked, "cpu": own_cpu_seconds(),
                "server_cpu": self.servers_cpu_seconds(), "cores": cores_busy_seconds(),
                "postgres": processes_cpu_seconds(self.pg_pids),
                "redis": processes_cpu_seconds(self.redis_pids),
                "watched": self.watched_cpu_seconds(),
                "closed": sum(1 for c in self.clients if not c.alive)}

    def window(self, mark: dict[str, Any], recipients: int) -> dict[str, Any]:
        """Everything measured since `mark`."""
        now = time.perf_counter()
        wall = now - mark["t"]
        frames = sum(c.frames for c in self.clients) - mark["frames"]
        latencies = [x for c in self.clients if c.latencies for x in c.latencies]
        sent = self.sent - mark["sent"]
        acked = self.acked - mark["acked"]
        closes = Counter(str(c.close_code) for c in self.clients if not c.alive)
        server_cpu = (self.servers_cpu_seconds() - mark["server_cpu"]) / wall
        loadgen_cpu = (own_cpu_seconds() - mark["cpu"]) / wall
        cores = [(b - a) / wall for a, b in zip(mark["cores"], cores_busy_seconds(), strict=True)]
        postgres = sum(cpu - mark["postgres"].get(pid, 0.0)
                       for pid, cpu in processes_cpu_seconds(self.pg_pids).items()) / wall
        redis = sum(cpu - mark["redis"].get(pid, 0.0)
                    for pid, cpu in processes_cpu_seconds(self.redis_pids).items()) / wall
        watched = {name: (cpu - mark["watched"][name]) / wall
                   for name, cpu in self.watched_cpu_seconds().items()}
        # Watched processes that are not part of "the server" (HAProxy) are not "other" CPU.
        beside_server = sum(cpu for name, cpu in watched.items()
                            if self.watched[name] not in self.server_pids)
        result = {
            "seconds": round(wall, 2),
            "offered_msgs_per_s": round(sent / wall, 1),
            "acked_msgs_per_s": round(acked / wall, 1),
            "deliveries_per_s": round(frames / wall, 1),
            "delivery_ratio": round(frames / (sent * recipients), 3) if sent else None,
            "e2e_samples": len(latencies),
            "e2e_p50_ms": ms(percentile(latencies, 50)),
            "e2e_p99_ms": ms(percentile(latencies, 99)),
            "e2e_max_ms": ms(max(latencies) if latencies else None),
            "ack_samples": len(self.acks),
            "ack_p50_ms": ms(percentile(self.acks, 50)),
            "ack_p99_ms": ms(percentile(self.acks, 99)),
            "ack_max_ms": ms(max(self.acks) if self.acks else None),
            "errors": dict(self.errors),
            "closed_connections": sum(closes.values()),
            "close_codes": dict(closes),
            "send_lag_max_ms": round(1000 * max(self.lags), 2) if self.lags else None,
            "server_cpu": round(server_cpu, 3),
            # Server CPU per delivered frame: robust to a noisy machine, unlike latency.
            "server_us_per_delivery": round(1e6 * server_cpu * wall / frames, 2)
            if frames else None,
            "loadgen_cpu": round(loadgen_cpu, 3),
            # CPU used by everything else on the machine; with 2 cores, "other" above ~0.2
            # means the numbers were measured on a busy machine.
            "cores_busy": [round(c, 3) for c in cores],
            "postgres_cpu": round(postgres, 3),
            "other_cpu": round(max(0.0, sum(cores) - server_cpu - loadgen_cpu - postgres
                                   - redis - beside_server), 3),
        }
        if self.watched:
            result["process_cpu"] = {name: round(cpu, 3) for name, cpu in watched.items()}
        if self.track_redis:
            result["redis_cpu"] = round(redis, 3)
        if self.sender_node is not None:
            result.update(self.latencies_by_origin())
        return result

    async def measure(self, slots: list[Member], rate: float, warmup: float, seconds: float,
                      recipients: int) -> dict[str, Any]:
        """Send at `rate` for warmup + seconds; the window covers the last `seconds`."""
        marks: list[dict[str, Any]] = []
        self.pg_pids = postgres_pids()
        self.redis_pids = redis_pids() if self.track_redis else []
        begin = time.perf_counter()

        def tick(now: float) -> None:
            if not marks and now - begin >= warmup:
                marks.append(self.mark())

        await self.send_at_rate(slots, rate, warmup + seconds, tick)
        if not marks:
            marks.append(self.mark())
        result = self.window(marks[0], recipients)
        result["rate"] = rate
        return result

    # --- end ----------------------------------------------------------------------------------

    async def finish(self) -> dict[str, Any]:
        for client in self.clients:
            client.set_rcvlowat(1)
        await self.wait_for_acks(5.0)
        lost = len(self.pending)
        closes = Counter(str(c.close_code) for c in self.clients if not c.alive)
        self.close_all()
        await asyncio.sleep(0.3)
        return {"unacknowledged": lost, "sent_total": self.sent, "skipped_sends": self.skipped,
                "closed_before_end": dict(closes)}


async def main_async(spec: dict[str, Any]) -> dict[str, Any]:
    gen = Loadgen(spec)
    gc.collect()
    gc.disable()  # no collector pauses inside the measurement windows
    try:
        from bench.scenarios import SCENARIOS  # the scenarios build on this module

        return await SCENARIOS[spec["scenario"]](gen, spec)
    finally:
        gen.close_all()


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(main_async(spec))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
