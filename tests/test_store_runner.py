"""The database runner keeps blocking database work off the event loop (coup/store/db.py).

Run through the live `server` fixture on both backends: a slow query occupies a worker thread
while the server's own loop keeps ticking and keeps answering HTTP; the pool has the size the
settings ask for; and a failing call reaches its caller without costing the pool a worker.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx
import peewee
import pytest

from coup.store.db import current_runner, database, db_task, db_transaction, is_postgres
from coup.store.fields import utcnow
from coup.store.models import User
from tests.conftest import LiveServer

# How long the slow query holds its worker; the HTTP request it must not block takes a few ms.
SLOW_QUERY_SECONDS = 0.5
TICK_SECONDS = 0.01
# Far below the ~50 ticks that fit in the slow query; a blocked loop would manage none.
MIN_TICKS_DURING_SLOW_QUERY = 5
# Generous upper bound for anything that waits on another thread; never reached when healthy.
WAIT_SECONDS = 10.0


# --- store functions run on the worker threads ---------------------------------------------


def _sleep_in_sql(started: threading.Event, seconds: float) -> int:
    """Called by SQLite from inside the query: the query is running once this starts."""
    started.set()
    time.sleep(seconds)
    return 1


@db_task
def run_slow_query(started: threading.Event) -> str:
    """Hold this worker for SLOW_QUERY_SECONDS inside a real query; returns the thread name."""
    if is_postgres():
        started.set()
        database.execute_sql("SELECT pg_sleep(%s)", (SLOW_QUERY_SECONDS,)).fetchone()
    else:
        # A function registered on this worker's own connection; it only lives on that
        # connection, so the server's other queries are unaffected.
        database.connection().create_function(
            "coup_test_sleep", 1, lambda seconds: _sleep_in_sql(started, seconds))
        database.execute_sql("SELECT coup_test_sleep(?)", (SLOW_QUERY_SECONDS,)).fetchone()
    return threading.current_thread().name


@db_task
def select_one() -> tuple[int, str]:
    value = database.execute_sql("SELECT 1").fetchone()[0]
    return value, threading.current_thread().name


@db_task
def query_missing_table() -> None:
    database.execute_sql("SELECT * FROM coup_no_such_table").fetchall()


@db_task
def raise_in_python(thread_names: list[str]) -> None:
    thread_names.append(threading.current_thread().name)
    raise LookupError("raised inside a store function")


@db_transaction
def insert_user_then_fail(email: str) -> None:
    now = utcnow()
    User.create(email=email, name="롤백", restricted_actions=[], created_at=now, updated_at=now)
    raise LookupError("after the insert")


@db_task
def user_exists(email: str) -> bool:
    return User.select().where(User.email == email).exists()


@dataclass
class Occupancy:
    """How many calls ran at once on the worker threads, and on which threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    active: int = 0
    peak: int = 0
    threads: set[str] = field(default_factory=set)


@db_task
def occupy(occupancy: Occupancy, barrier: threading.Barrier | None, hold: float) -> str:
    with occupancy.lock:
        occupancy.active += 1
        occupancy.peak = max(occupancy.peak, occupancy.active)
        occupancy.threads.add(threading.current_thread().name)
    try:
        if barrier is not None:
            barrier.wait(WAIT_SECONDS)
        time.sleep(hold)
        database.execute_sql("SELECT 1").fetchone()
    finally:
        with occupancy.lock:
            occupancy.active -= 1
    return threading.current_thread().name


# --- coroutines run on the server's loop ---------------------------------------------------


@dataclass
class Overlap:
    ticks: int
    order: list[str]
    status: int
    body: dict[str, object]


async def overlap_http_with_slow_query(base_url: str) -> Overlap:
    """Start the slow query, then tick and make an HTTP request to this same server."""
    order: list[str] = []
    started = threading.Event()
    slow = asyncio.ensure_future(run_slow_query(started))
    # Recorded by the loop when the query's result arrives, as HTTP's completion is below.
    slow.add_done_callback(lambda _: order.append("query-done"))

    deadline = time.monotonic() + WAIT_SECONDS
    while not started.is_set():
        assert time.monotonic() < deadline, "the slow query never started"
        await asyncio.sleep(0.001)

    ticks = 0

    async def count_ticks() -> None:
        nonlocal ticks
        while not slow.done():
            await asyncio.sleep(TICK_SECONDS)
            ticks += 1

    ticker = asyncio.ensure_future(count_ticks())
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT_SECONDS) as http:
        response = await http.get("/api/config")
    order.append("http-done")
    await slow
    await ticker
    return Overlap(ticks, order, response.status_code, response.json())


async def run_concurrently(calls: int, occupancy: Occupancy,
                           barrier: threading.Barrier | None, hold: float) -> list[str]:
    return list(await asyncio.gather(*(occupy(occupancy, barrier, hold) for _ in range(calls))))


# --- tests ---------------------------------------------------------------------------------


def test_loop_serves_http_while_a_slow_query_runs(server: LiveServer) -> None:
    # /api/config reads settings from the node's cache; warm it so the request needs no worker
    # (SQLite has only the one, and the slow query holds it).
    server.call(server.services.system_settings.all())

    result: Overlap = server.call(overlap_http_with_slow_query(server.base_url))

    assert result.status == 200
    assert result.body["success"] is True
    assert result.order == ["http-done", "query-done"]
    assert result.ticks >= MIN_TICKS_DURING_SLOW_QUERY


def test_pool_size_follows_the_backend(server: LiveServer) -> None:
    runner = current_runner()
    expected = 1 if server.settings.is_sqlite else server.settings.db_pool_size

    assert runner.workers == expected
    if not server.settings.is_sqlite:
        assert expected > 1


def test_every_worker_can_run_at_once(server: LiveServer) -> None:
    workers = current_runner().workers
    occupancy = Occupancy()
    # Each call waits until `workers` calls are running together: only possible when the pool
    # really runs that many in parallel, each on its own thread.
    barrier = threading.Barrier(workers)

    names = server.call(run_concurrently(workers, occupancy, barrier, 0.0))

    assert occupancy.peak == workers
    assert len(set(names)) == workers


def test_pool_never_runs_more_calls_than_workers(server: LiveServer) -> None:
    workers = current_runner().workers
    occupancy = Occupancy()

    names = server.call(run_concurrently(workers * 3, occupancy, None, 0.02))

    assert len(names) == workers * 3
    assert occupancy.peak <= workers
    assert len(occupancy.threads) <= workers


def test_failing_query_raises_to_the_caller_and_the_worker_survives(
        server: LiveServer) -> None:
    workers = current_runner().workers

    with pytest.raises(peewee.DatabaseError):
        server.call(query_missing_table())
    failed_in: list[str] = []
    with pytest.raises(LookupError):
        server.call(raise_in_python(failed_in))

    assert server.call(select_one())[0] == 1
    # Every worker, the failed ones included, takes one of these calls: they only finish once
    # `workers` of them run together.
    occupancy = Occupancy()
    names = server.call(run_concurrently(workers, occupancy, threading.Barrier(workers), 0.0))
    assert failed_in[0] in names
    assert len(set(names)) == workers


def test_failing_transaction_is_rolled_back_and_raised(server: LiveServer) -> None:
    email = f"rollback-{time.monotonic_ns()}@example.com"

    with pytest.raises(LookupError):
        server.call(insert_user_then_fail(email))

    assert server.call(user_exists(email)) is False
    assert server.call(select_one())[0] == 1
