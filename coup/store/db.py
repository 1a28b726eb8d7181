"""The database handle, and the bounded thread pool that keeps database work off the event loop.

Peewee and psycopg2 block, so every query runs in a worker thread. Store functions are written
as plain synchronous code and decorated with `@db_task` (a read, or a write that needs no
transaction) or `@db_transaction` (one transaction around the whole function); callers await
them and never touch a model query on the event loop.

SQLite gets a single worker: it allows one writer at a time, and one thread that owns the
connection is both simpler and faster than threads queueing on its lock. PostgreSQL gets
`COUP_DB_POOL_SIZE` workers, each holding its own connection for the life of the thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote

import peewee
from peewee import DatabaseProxy
from playhouse import db_url

from coup import metrics
from coup.errors import Overloaded

log = logging.getLogger(__name__)

# Models are declared against this proxy and bound at run time, so the same model code serves
# SQLite (embedded default, tests) and PostgreSQL (production).
database = DatabaseProxy()

P = ParamSpec("P")
T = TypeVar("T")

# SQLite waits this long for a lock held by another process (a CLI command, say) before failing.
SQLITE_BUSY_TIMEOUT_SECONDS = 10


class DatabaseRunner:
    """Runs synchronous database functions on a bounded pool of worker threads."""

    def __init__(self, db: peewee.Database, workers: int) -> None:
        self.db = db
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coup-db")
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Calls queued or running; exported as a gauge so a saturated pool is visible."""
        return self._pending

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        with self._lock:
            self._pending += 1
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(context.run, self._call, fn, args, kwargs)
            )
        finally:
            with self._lock:
                self._pending -= 1

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        name = getattr(fn, "__qualname__", "db_call")
        started = time.perf_counter()
        try:
            if self.db.is_closed():
                self.db.connect()
            return fn(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            metrics.DB_ERRORS.inc()
            if _connection_lost(self.db):
                # Drop the broken connection so this worker reconnects on its next call.
                log.warning("database connection lost in %s: %s", name, exc)
                self.db.close()
                raise Overloaded(message="database unavailable; retry later") from exc
            raise
        finally:
            metrics.DB_CALL_SECONDS.observe(time.perf_counter() - started)

    def shutdown(self) -> None:
        """Finish queued calls, then close each worker's connection."""
        closers = [self._executor.submit(self._close_connection) for _ in range(self.workers)]
        for future in closers:
            future.result(timeout=30)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        # Each worker closes the connection of its own thread; a short sleep spreads the
        # closers over the workers rather than letting one thread take them all.
        time.sleep(0.01)
        if not self.db.is_closed():
            self.db.close()


_runner: DatabaseRunner | None = None


def open_database(url: str, pool_size: int = 8) -> DatabaseRunner:
    """Connect the model proxy to `url` and start the worker pool; returns the runner."""
    global _runner
    db = make_database(url)
    database.initialize(db)
    workers = 1 if isinstance(db, peewee.SqliteDatabase) else pool_size
    _runner = DatabaseRunner(db, workers)
    return _runner


def close_database() -> None:
    global _runner
    if _runner is not None:
        _runner.shutdown()
        _runner = None


def pending_calls() -> int:
    """Database calls queued or running now (also set as the gauge, for /metrics)."""
    pending = _runner.pending if _runner is not None else 0
    metrics.DB_PENDING_CALLS.set(pending)
    return pending


def current_runner() -> DatabaseRunner:
    if _runner is None:
        raise RuntimeError("the database is not open: call open_database() first")
    return _runner


def make_database(url: str) -> peewee.Database:
    """A Peewee database for a `sqlite:///path` or `postgresql://user@host:port/name` URL."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///") or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return peewee.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "synchronous": "normal",
                "busy_timeout": SQLITE_BUSY_TIMEOUT_SECONDS * 1000,
            },
        )
    scheme = url.partition("://")[0]
    if scheme not in ("postgres", "postgresql"):
        raise ValueError(f"unsupported database URL scheme {scheme!r}")
    # Peewee's own URL parser; it leaves percent-escapes in place, so they are undone here.
    # The values (str, int, float, bool, None from the query string) are the driver's connect
    # arguments, which Peewee takes as untyped **kwargs: Any is their honest type.
    params: dict[str, Any] = {name: unquote(value) if isinstance(value, str) else value
                              for name, value in db_url.parse(url).items()}
    return peewee.PostgresqlDatabase(params.pop("database") or "postgres", **params)


def db_task(fn: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """Make a synchronous store function awaitable; it runs on a database worker thread."""

    @functools.wraps(fn)
    async def run_off_loop(*args: P.args, **kwargs: P.kwargs) -> T:
        return await current_runner().run(fn, *args, **kwargs)

    return run_off_loop


def db_transaction(fn: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """Like db_task, with the whole function in one transaction (rolled back on any error)."""

    @functools.wraps(fn)
    def in_transaction(*args: P.args, **kwargs: P.kwargs) -> T:
        with database.atomic():
            return fn(*args, **kwargs)

    return db_task(in_transaction)


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def _connection_lost(db: peewee.Database) -> bool:
    if isinstance(db, peewee.PostgresqlDatabase):
        conn = db.connection() if not db.is_closed() else None
        return conn is None or conn.closed != 0
    return False
