"""Concurrent membership writes on one study (COUP.md §1 item 16, §9.1): the seq stays gap-free
and capacity never overshoots, on SQLite and on PostgreSQL (several database workers)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import Api, LiveServer
from tests.conftest import User as ApiUser
from tests.membership_support import World, assert_seqs_consecutive, make_world

RACERS = 20


def _race(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call on its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _joiners(world: World, count: int) -> list[ApiUser]:
    return [world.user(f"경쟁자{i:02d}") for i in range(count)]


def _join_call(world: World, user: ApiUser) -> Callable[[], httpx.Response]:
    return lambda: world.api.join(user, world.study_id)


def test_concurrent_joins_and_role_changes_keep_seqs_gap_free(
        server: LiveServer, api: Api) -> None:
    world = make_world(server, api, max_members=50)
    members = [world.member() for _ in range(5)]
    joiners = _joiners(world, RACERS)
    calls = [_join_call(world, user) for user in joiners]
    for member in members:
        calls.append(lambda member=member: world.owner.http.patch(
            world.path(f"/members/{member.id}/role"), json={"role": "ADMIN"}))

    responses = _race(calls)

    assert [r.status_code for r in responses] == [201] * RACERS + [200] * len(members)
    events = world.events()
    assert_seqs_consecutive(events)
    assert len(events) == RACERS + len(members) == world.study()["last_seq"]
    assert Counter(e["type"] for e in events) == {"study:member-joined": RACERS,
                                                 "study:member-updated": len(members)}
    joined = [e["payload"]["member"]["user_id"] for e in events
              if e["type"] == "study:member-joined"]
    assert sorted(joined) == sorted(user.id for user in joiners)


def test_concurrent_joins_never_overshoot_capacity(server: LiveServer, api: Api) -> None:
    world = make_world(server, api, max_members=6)  # the owner and 5 free slots
    joiners = _joiners(world, RACERS)

    responses = _race([_join_call(world, user) for user in joiners])

    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 5, 409: RACERS - 5}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "STUDY_FULL"}
    members = world.owner.http.get(world.path("/members")).json()["pagination"]["total"]
    assert members == 6
    events = world.events()
    assert_seqs_consecutive(events)
    assert len(events) == 5 == world.study()["last_seq"]
