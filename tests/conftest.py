"""Test fixtures: a real CoUp node on a real socket, once per backend.

Every test that uses `server` (or `client`, `api`) runs twice: on SQLite with the in-process bus
and on PostgreSQL. PostgreSQL is skipped when it is unreachable, except under CI=true, where a
missing service fails the run instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from coup.config import RateLimit, Settings, load_settings
from coup.node import Node
from coup.ratelimit import LocalLimit, SharedLimit
from coup.services import Services
from coup.store.db import db_task
from coup.store.events import Effects, install_effects_sink, installed_effects_sink

PG_ADMIN_DSN = os.environ.get("COUP_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
APP_ORIGIN = "http://app.test"
BACKENDS = ["sqlite", "postgres"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_or_skip(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI=true requires it)")
    pytest.skip(reason)


@dataclass
class PgDatabase:
    name: str
    url: str


def create_pg_database() -> PgDatabase:
    import psycopg2

    try:
        conn = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        require_or_skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
    name = f"coup_test_{secrets.token_hex(6)}"
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return PgDatabase(name, f"{base}/{name}")


REDIS_URL = os.environ.get("COUP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require_or_skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    return REDIS_URL


def clear_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def drop_pg_database(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def server_environment(database_url: str, upload_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "COUP_TESTING": "1",
        "COUP_BCRYPT_ROUNDS": "4",
        "COUP_DATABASE_URL": database_url,
        "COUP_UPLOAD_DIR": str(upload_dir),
        "COUP_HOST": "127.0.0.1",
        "COUP_PORT": "0",
        "COUP_NODE_ID": "test-node",
        "COUP_COOKIE_SECRET": secrets.token_urlsafe(32),
        "COUP_ALLOWED_ORIGINS": APP_ORIGIN,
        "COUP_DB_POOL_SIZE": "4",
        "COUP_DRAIN_DELAY_MS": "0",
        # Jobs are run directly by tests/test_jobs.py; scheduled runs would race other tests.
        "COUP_JOBS": "false",
        # Every test client comes from 127.0.0.1; the per-IP limits get their own tests.
        "COUP_SIGNUP_RATE": "100000/3600s",
        "COUP_LOGIN_IP_RATE": "100000/900s",
        "COUP_INVITE_LOOKUP_RATE": "100000/600s",
    }
    env.update(extra)
    return env


class LiveServer:
    """A Node serving on 127.0.0.1 from its own event loop in a background thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.settings = load_settings(env)
        self.node = Node(self.settings)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="coup-test-server",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.call(self.node.start())
        self.base_url = f"http://127.0.0.1:{self.node.bound_port}"

    @property
    def services(self) -> Services:
        """What the node hands its handlers: the seams tests reach the node through."""
        return self.node.services

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (e.g. a store function) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            self.call(self.node.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


# --- no unexpected 5xx -------------------------------------------------------------------------
# The live servers run in this process, so their metrics (coup/metrics.py) are readable here.
# Every test that uses them fails if, while it ran, the server answered INTERNAL: a REST 500
# or a WebSocket INTERNAL reply, each an unexpected exception logged with its traceback (pytest
# shows the captured log with the failure). Designed 5xx answers (OVERLOADED, MAINTENANCE, the
# 503 of /ready) are not counted. A test that causes INTERNAL on purpose says so:
# @pytest.mark.expects_5xx.
EXPECTS_5XX = "expects_5xx"


@contextlib.contextmanager
def override_node_settings(server: LiveServer, **changes: Any) -> Iterator[Settings]:
    """Replace the node's environment settings (held once, in its status) for a block.
    Rooms copy the settings when they start, so use a fresh study inside the block."""
    status = server.services.status
    saved = status.settings
    status.settings = saved.with_overrides(**changes)
    try:
        yield status.settings
    finally:
        status.settings = saved


@contextlib.contextmanager
def override_limit(server: LiveServer, name: str, count: int,
                   window_seconds: float) -> Iterator[None]:
    """Give one of the node's rate limits (`Limits` in coup/ratelimit.py: signup, login_ip,
    invite_lookup, chat, upload, password) another budget for a block, with no hits yet on
    this node's own limits."""
    limits = server.services.limits
    saved = getattr(limits, name)
    rate = RateLimit(count, window_seconds)
    replacement: LocalLimit | SharedLimit
    if isinstance(saved, LocalLimit):
        replacement = LocalLimit(rate)
    else:
        assert isinstance(saved, SharedLimit), f"{name} is not a limit"
        replacement = SharedLimit(saved.name, rate, server.services.bus)
    setattr(limits, name, replacement)
    try:
        yield
    finally:
        setattr(limits, name, saved)


@contextlib.contextmanager
def watching_effects(listener: Any) -> Iterator[None]:
    """Call `listener(effects)` after the realtime layer with every committed write's effects,
    for a block (the store hands them to one sink; this wraps it)."""
    inner = installed_effects_sink()

    async def both(effects: Effects) -> None:
        await inner(effects)
        await listener(effects)

    install_effects_sink(both)
    try:
        yield
    finally:
        install_effects_sink(inner)


# The one query-count helper: count_queries(fn, *args) runs an undecorated store function on a
# database worker and returns how many SQL statements it sent.
class _ThreadQueryCounter(logging.Handler):
    """Counts the SQL statements Peewee logs from one thread (the worker running the call)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.count += 1


@db_task
def count_queries(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """Run an undecorated store function on a worker and count the statements it sends."""
    logger = logging.getLogger("peewee")
    counter, level = _ThreadQueryCounter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        fn(*args, **kwargs)
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
    return counter.count


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{EXPECTS_5XX}: the test makes the server answer INTERNAL on purpose (a "
        "simulated failure); the unexpected-5xx check leaves it alone")


def internal_answers() -> float:
    """INTERNAL answers written so far by the live servers of this process."""
    from coup import metrics

    total = 0.0
    for metric in metrics.HTTP_5XX.collect():
        total += sum(sample.value for sample in metric.samples
                     if sample.name.endswith("_total") and sample.labels["code"] == "INTERNAL")
    for metric in metrics.WS_INTERNAL_REPLIES.collect():
        total += sum(sample.value for sample in metric.samples if sample.name.endswith("_total"))
    return total


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    watched = "server" in getattr(item, "fixturenames", ()) and \
        item.get_closest_marker(EXPECTS_5XX) is None
    before = internal_answers() if watched else 0.0
    result = yield
    if watched and (caused := internal_answers() - before) > 0:
        pytest.fail(f"the server answered INTERNAL {caused:g} time(s) during this test (an "
                    "unexpected 5xx or WebSocket INTERNAL reply; its traceback is in the "
                    "captured log). Mark a deliberate one with @pytest.mark.expects_5xx.",
                    pytrace=False)
    return result


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp(f"coup-{backend}")
    pg = None
    extra: dict[str, str] = {}
    if backend == "postgres":
        # The second leg is the production shape: PostgreSQL and the Redis Streams bus.
        pg = create_pg_database()
        url = pg.url
        extra = {"COUP_REDIS_URL": require_redis(),
                 "COUP_REDIS_PREFIX": f"coup-test-{secrets.token_hex(4)}:"}
    else:
        url = f"sqlite:///{root / 'coup.db'}"
    live = LiveServer(server_environment(url, root / "uploads", **extra))
    live.start()
    try:
        yield live
    finally:
        live.stop()
        if pg is not None:
            drop_pg_database(pg.name)
            clear_redis_prefix(extra["COUP_REDIS_PREFIX"])


def native_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """A client like a mobile app's: it never stores cookies, so it is never asked for XSRF."""
    # verify=False: the tests speak plain http, and building a TLS context per client costs
    # about 0.15 s, which adds up over thousands of clients.
    http = httpx.Client(base_url=base_url, timeout=30, verify=False, **kwargs)
    http.event_hooks["response"].append(lambda response: http.cookies.clear())
    return http


@pytest.fixture()
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with native_client(server.base_url) as http:
        yield http


@pytest.fixture()
def api(server: LiveServer) -> Iterator[Api]:
    with Api(server) as helper:
        yield helper


class Api:
    """Short helpers over the REST API for tests: sign-up, bearer clients, cookie clients."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self._clients: list[httpx.Client] = []

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        for http in self._clients:
            http.close()

    def anonymous(self, **kwargs: Any) -> httpx.Client:
        """A native (cookie-less) client; pass cookies= to send fixed cookies."""
        http = native_client(self.server.base_url, **kwargs)
        self._clients.append(http)
        return http

    def cookie_client(self, **kwargs: Any) -> httpx.Client:
        http = httpx.Client(base_url=self.server.base_url, timeout=30, verify=False, **kwargs)
        self._clients.append(http)
        return http

    def signup(self, name: str = "테스트유저", password: str = "Secret-pass-123",
               email: str | None = None) -> User:
        email = email or f"user-{secrets.token_hex(6)}@example.com"
        response = self.anonymous().post("/api/auth/signup", json={
            "email": email, "password": password, "name": name})
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        http = self.anonymous(headers={"Authorization": f"Bearer {data['token']}"})
        return User(id=data["user"]["id"], email=email, password=password, name=name,
                    token=data["token"], http=http)

    def create_study(self, owner: User, **fields: Any) -> dict[str, Any]:
        """Create a study as `owner` through POST /api/studies; returns the Study object."""
        body = {"name": f"스터디 {secrets.token_hex(3)}", "emoji": "📚",
                "description": "함께 공부하는 테스트 스터디입니다.", "category": "개발"}
        body.update(fields)
        response = owner.http.post("/api/studies", json=body)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    def join(self, user: User, study_id: str, **fields: Any) -> httpx.Response:
        return user.http.post(f"/api/studies/{study_id}/join", json=fields)

    def browser(self) -> httpx.Client:
        """A cookie client that sends an Origin, holding the XSRF cookie and header."""
        http = self.cookie_client(headers={"Origin": APP_ORIGIN})
        token = http.get("/api/auth/csrf").json()["data"]["xsrf_token"]
        http.headers["X-XSRFToken"] = token
        return http


@dataclass
class User:
    id: str
    email: str
    password: str
    name: str
    token: str
    http: httpx.Client


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["success"] is False, body
    return body["error"]["code"]
