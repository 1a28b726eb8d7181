"""The scenarios of issue 5 (a-d) and the two-node run of issue 6 (e), as the load generator
runs them (see bench/README.md)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench.loadgen import (
    Loadgen,
    Member,
    cores_busy_seconds,
    log,
    own_cpu_seconds,
    postgres_pids,
    processes_cpu_seconds,
    server_cpu_seconds,
    server_rss_kb,
)


def interleave(by_room: list[list[Member]], per_room: int) -> list[Member]:
    """Sender slots: the k-th sender of every room, then the (k+1)-th, ... so that a rate of
    one message per room per second visits each room once a second, evenly spaced."""
    return [members[k] for k in range(per_room) for members in by_room]


async def scenario_a(gen: Loadgen, spec: dict[str, Any]) -> dict[str, Any]:
    """Many small rooms, one message per second per room."""
    rooms = spec["rooms"]
    size = len(rooms[0]["tokens"])
    by_room, setup = await gen.open_rooms(rooms, senders_per_room=size,
                                          samples_per_room=spec["samples_per_room"])
    slots = interleave(by_room, size)
    result = await gen.measure(slots, rate=len(rooms) * spec["msgs_per_room_per_s"],
                               warmup=spec["warmup"], seconds=spec["seconds"], recipients=size)
    log(f"  e2e p50/p99 {result['e2e_p50_ms']}/{result['e2e_p99_ms']} ms, ack p50/p99 "
        f"{result['ack_p50_ms']}/{result['ack_p99_ms']} ms, errors {result['errors']}")
    return {**setup, "window": result, **(await gen.finish())}


async def ramp(gen: Loadgen, slots: list[Member], rates: list[float], recipients: int,
               spec: dict[str, Any], failure: Any) -> tuple[list[dict[str, Any]], str]:
    """Measure each rate in turn until `failure(step)` (a reason, or None) stops the ramp.

    A failed step is measured once more at the same rate before the ramp stops, so a single
    stall of a shared machine does not end it; both measurements are kept (`attempt`). Closed
    connections stop the ramp at once.
    """
    steps: list[dict[str, Any]] = []
    for index, rate in enumerate(rates):
        reason = None
        for attempt in (1, 2):
            seconds = spec.get("first_seconds", spec["seconds"]) if index == 0 \
                else spec["seconds"]
            step = await gen.measure(slots, rate, spec["warmup"], seconds, recipients)
            step["attempt"] = attempt
            steps.append(step)
            reason = failure(step)
            log(f"  {rate:6.0f} msg/s{' (again)' if attempt == 2 else ''}: "
                f"{step['deliveries_per_s']:8.0f} deliveries/s, {step['acked_msgs_per_s']:6.0f} "
                f"acked/s, e2e p50/p99 {step['e2e_p50_ms']}/{step['e2e_p99_ms']} ms, ack "
                f"p50/p99 {step['ack_p50_ms']}/{step['ack_p99_ms']} ms, server cpu "
                f"{step['server_cpu']}, loadgen cpu {step['loadgen_cpu']}, other cpu "
                f"{step['other_cpu']}{'  FAIL: ' + reason if reason else ''}")
            if reason is None or step["closed_connections"]:
                break
        if reason is not None:
            return steps, f"{reason} at {rate:.0f} msg/s"
    return steps, "reached the highest step"


async def scenario_b(gen: Loadgen, spec: dict[str, Any]) -> dict[str, Any]:
    """One big room; the message rate steps up until delivery p99 passes the limit."""
    room = spec["rooms"][0]
    size = len(room["tokens"])
    by_room, setup = await gen.open_rooms(spec["rooms"], senders_per_room=spec["senders"],
                                          samples_per_room=spec["samples"],
                                          sample_from=spec["senders"],
                                          rcvlowat=spec["rcvlowat"])
    slots = by_room[0][:spec["senders"]]
    limit = spec["p99_limit_ms"]
    rates, rate = [], spec["start_rate"]
    while rate <= spec["max_rate"]:
        rates.append(rate)
        rate = round(rate * spec["factor"])

    def failure(step: dict[str, Any]) -> str | None:
        if step["e2e_p99_ms"] is None or step["e2e_p99_ms"] > limit:
            return f"e2e p99 {step['e2e_p99_ms']} ms > {limit} ms"
        if step["errors"] or step["closed_connections"]:
            return f"errors {step['errors']} / closed {step['close_codes']}"
        return None

    steps, stop_reason = await ramp(gen, slots, rates, size, spec, failure)
    passing = [s for s in steps if failure(s) is None]
    best = max(passing, key=lambda s: s["deliveries_per_s"]) if passing else None
    return {**setup, "steps": steps, "best": best, "stop_reason": stop_reason,
            **(await gen.finish())}


async def scenario_c(gen: Loadgen, spec: dict[str, Any]) -> dict[str, Any]:
    """Idle authenticated connections: connect time and server RSS per connection."""
    warm, _ = await gen.connect(spec["tokens"][:1])  # first-use imports and caches
    await asyncio.sleep(1.0)
    rss_before = server_rss_kb(gen.pid)
    tokens = spec["tokens"][1:]
    pg_pids = postgres_pids()
    cpu0, server0 = own_cpu_seconds(), server_cpu_seconds(gen.pid)
    cores0, pg0 = cores_busy_seconds(), processes_cpu_seconds(pg_pids)
    started = time.perf_counter()
    clients, failures = await gen.connect(tokens, concurrency=spec["concurrency"],
                                          local_hosts=spec["local_hosts"])
    connect_seconds = time.perf_counter() - started
    loadgen_cpu = (own_cpu_seconds() - cpu0) / connect_seconds
    server_cpu = (server_cpu_seconds(gen.pid) - server0) / connect_seconds
    cores = sum(b - a for a, b in zip(cores0, cores_busy_seconds(), strict=True)) / connect_seconds
    postgres = sum(cpu - pg0.get(pid, 0.0) for pid, cpu in
                   processes_cpu_seconds(pg_pids).items()) / connect_seconds
    log(f"  {len(clients)} of {len(tokens)} connected in {connect_seconds:.2f} s "
        f"({len(failures)} failures)")
    await asyncio.sleep(spec["settle"])
    rss_after = server_rss_kb(gen.pid)
    alive = sum(1 for c in clients if c.alive)
    per_connection = (rss_after - rss_before) / max(1, len(clients))
    log(f"  server RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MiB: "
        f"{per_connection:.1f} KiB per connection; {alive} still open")
    result = {
        "connections": len(tokens), "connected": len(clients), "alive_after_settle": alive,
        "failures": len(failures), "failure_examples": sorted(set(failures))[:5],
        "connect_seconds": round(connect_seconds, 2),
        "rss_before_kb": rss_before, "rss_after_kb": rss_after,
        "rss_per_connection_kb": round(per_connection, 2),
        "server_cpu_while_connecting": round(server_cpu, 3),
        "loadgen_cpu": round(loadgen_cpu, 3),
        "postgres_cpu": round(postgres, 3),
        "other_cpu": round(max(0.0, cores - server_cpu - loadgen_cpu - postgres), 3),
    }
    del warm
    return {**result, **(await gen.finish())}


async def scenario_d(gen: Loadgen, spec: dict[str, Any]) -> dict[str, Any]:
    """Ingress: many rooms, every member sends; the rate steps up while ack p99 holds."""
    rooms = spec["rooms"]
    size = len(rooms[0]["tokens"])
    by_room, setup = await gen.open_rooms(rooms, senders_per_room=size, samples_per_room=1,
                                          sample_from=1)
    slots = interleave(by_room, size)
    limit = spec["ack_p99_limit_ms"]

    def failure(step: dict[str, Any]) -> str | None:
        if step["ack_p99_ms"] is None or step["ack_p99_ms"] > limit:
            return f"ack p99 {step['ack_p99_ms']} ms > {limit} ms"
        if step["errors"] or step["closed_connections"]:
            return f"errors {step['errors']} / closed {step['close_codes']}"
        if step["acked_msgs_per_s"] < 0.95 * step["offered_msgs_per_s"]:
            return "acknowledgements fell behind the offered rate"
        return None

    steps, stop_reason = await ramp(gen, slots, spec["rates"], size, spec, failure)
    passing = [s for s in steps if failure(s) is None]
    best = max(passing, key=lambda s: s["acked_msgs_per_s"]) if passing else None
    return {**setup, "steps": steps, "best": best, "stop_reason": stop_reason,
            **(await gen.finish())}


def node_placement(by_room: list[list[Member]]) -> dict[str, Any]:
    """Where HAProxy put the clients, by the `node` of each client's hello."""
    members = [m for room in by_room for m in room]
    return {
        "clients_per_node": dict(Counter(str(m.client.node) for m in members)),
        "samples_per_node": dict(Counter(str(m.client.node) for m in members
                                         if m.client.sample)),
        "rooms_on_both_nodes": sum(1 for room in by_room
                                   if len({m.client.node for m in room}) > 1),
    }


async def scenario_e(gen: Loadgen, spec: dict[str, Any]) -> dict[str, Any]:
    """(a) on two nodes through HAProxy: every delivery to a sample receiver is also counted
    as same-node or cross-node, by the nodes of its sender and its receiver."""
    rooms = spec["rooms"]
    size = len(rooms[0]["tokens"])
    by_room, setup = await gen.open_rooms(rooms, senders_per_room=size,
                                          samples_per_room=spec["samples_per_room"])
    gen.track_origins()
    placement = node_placement(by_room)
    log(f"  clients per node {placement['clients_per_node']}, sample receivers per node "
        f"{placement['samples_per_node']}, rooms on both nodes "
        f"{placement['rooms_on_both_nodes']} of {len(by_room)}")
    slots = interleave(by_room, size)
    result = await gen.measure(slots, rate=len(rooms) * spec["msgs_per_room_per_s"],
                               warmup=spec["warmup"], seconds=spec["seconds"], recipients=size)
    same, cross = result["same_node"], result["cross_node"]
    log(f"  e2e p50/p99 {result['e2e_p50_ms']}/{result['e2e_p99_ms']} ms (same node "
        f"{same['p50_ms']}/{same['p99_ms']}, cross node {cross['p50_ms']}/{cross['p99_ms']}), "
        f"ack p50/p99 {result['ack_p50_ms']}/{result['ack_p99_ms']} ms, "
        f"errors {result['errors']}")
    return {**setup, **placement, "window": result, **(await gen.finish())}


SCENARIOS = {"a": scenario_a, "b": scenario_b, "c": scenario_c, "d": scenario_d,
             "e": scenario_e}


