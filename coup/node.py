"""The composition root: settings -> store -> (bus, actors) -> app -> listen; stop in reverse.

A Node is what every handler receives through `initialize()`: it owns this process's shared
services and the few node-wide decisions (who is calling, is the node in maintenance or
draining), so no handler reaches for a global.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import tornado.httpserver
from tornado.httputil import HTTPServerRequest

from coup import metrics
from coup.actors.registry import Registry
from coup.bus import make_bus
from coup.bus.base import Bus
from coup.config import Settings, resolve_cookie_secret
from coup.errors import ApiError
from coup.jobs import JobScheduler
from coup.ratelimit import SlidingWindowLimiter
from coup.store import db, notifications, sessions
from coup.store.events import Effects, install_effects_sink
from coup.store.migrate import apply_migrations
from coup.store.sessions import AuthState
from coup.store.system_settings import SettingsCache, seed_settings

log = logging.getLogger(__name__)

# The session cookie's name; kept here as well as in the handlers so the WebSocket can read it.
SESSION_COOKIE = "coup_session"
# Largest request body the HTTP server accepts at all; handlers set tighter limits per route.
SERVER_MAX_BODY_BYTES = 256 * 1024 * 1024
# Paths that keep working in maintenance mode (COUP.md §11 maintenance_mode).
# PROTOCOL §10: a node drains within this bound after SIGTERM.
DRAIN_TIMEOUT_SECONDS = 30.0
# Allocations (net of frees) between collections of the youngest generation; CPython's
# default is 700. See tune_garbage_collector().
GC_GENERATION0_THRESHOLD = 10_000
# Without Redis no message reaches this node from another process: a revocation committed by
# the CLI on the same database is found by asking the database this often which of the login
# sessions holding sockets here were revoked (COUP.md §5.1: closed within 1 s).
REVOCATION_POLL_SECONDS = 0.5
MAINTENANCE_EXEMPT_PREFIXES = ("/api/auth/", "/api/config", "/api/openapi.json", "/health",
                               "/ready", "/metrics")

RevocationListener = Callable[[list[str], str], Awaitable[None]]


@dataclass
class AuthOutcome:
    """The caller of a request: a live session, or why there is none."""

    state: AuthState | None
    error: ApiError | None = None
    clear_cookie: bool = False
    # Why there is no session, for validate-session: NO_SESSION, EXPIRED, REVOKED,
    # ACCOUNT_SUSPENDED or ACCOUNT_DELETED.
    reason: str | None = None


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = resolve_cookie_secret(settings)
        self.system_settings = SettingsCache()
        self.draining = False
        rates = self.settings
        self.signup_limiter = SlidingWindowLimiter(rates.signup_rate.count,
                                                   rates.signup_rate.window_seconds)
        self.login_ip_limiter = SlidingWindowLimiter(rates.login_ip_rate.count,
                                                     rates.login_ip_rate.window_seconds)
        self._revocation_listeners: list[RevocationListener] = []
        self._effects_listeners: list[Callable[[Effects], Awaitable[None]]] = []
        self._http_server: tornado.httpserver.HTTPServer | None = None
        self.registry: Registry | None = None
        self.bus: Bus | None = None
        self.jobs: JobScheduler | None = None
        self._runner: db.DatabaseRunner | None = None
        self._revocation_poll: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, listen: bool = True) -> None:
        from coup.app import make_app  # the app imports handlers, which import this module

        self._runner = db.open_database(self.settings.database_url, self.settings.db_pool_size)
        applied = await self._runner.run(apply_migrations, db.database.obj)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        await seed_settings()
        notifications.configure_language(self.settings.language)
        install_effects_sink(self.deliver_effects)
        self.bus = make_bus(self.settings)
        self.registry = Registry(self.settings, self.bus)
        self.registry.settings_listeners.append(self.system_settings.invalidate)
        await self.registry.start()
        self.on_effects(self.registry.deliver_effects)
        self.on_sessions_revoked(self._close_revoked_sockets)
        if self.bus.kind == "MemoryBus":
            self._revocation_poll = asyncio.get_running_loop().create_task(
                self._poll_revocations_forever())
        if self.settings.run_jobs:
            self.jobs = JobScheduler(self.settings, BusJobLock(self.bus))
            self.jobs.start()
        self.settings.upload_dir.mkdir(parents=True, exist_ok=True)
        (self.settings.upload_dir / "avatars").mkdir(parents=True, exist_ok=True)
        if listen:
            app = make_app(self)
            self._http_server = tornado.httpserver.HTTPServer(
                app, xheaders=False, max_body_size=SERVER_MAX_BODY_BYTES,
                idle_connection_timeout=75,
            )
            self._http_server.listen(self.settings.port, self.settings.host)
            log.info("node %s listening on http://%s:%d", self.settings.node_id,
                     self.settings.host, self.bound_port)

    @property
    def bound_port(self) -> int:
        if self._http_server is None:
            return self.settings.port
        sockets = list(self._http_server._sockets.values())
        return sockets[0].getsockname()[1] if sockets else self.settings.port

    async def stop(self) -> None:
        """Drain (PROTOCOL §10): refuse new work, flush what is owed, close sockets with 1001."""
        self.draining = True
        if self._revocation_poll is not None:
            self._revocation_poll.cancel()
            await asyncio.gather(self._revocation_poll, return_exceptions=True)
            self._revocation_poll = None
        if self.jobs is not None:
            await self.jobs.stop()
            self.jobs = None
        if self._http_server is not None:
            self._http_server.stop()  # no new connections; /ready already answers 503
            if self.settings.drain_delay_seconds:
                await asyncio.sleep(self.settings.drain_delay_seconds)
        if self.registry is not None:
            await self.registry.drain(DRAIN_TIMEOUT_SECONDS)
        install_effects_sink(None)
        if self._http_server is not None:
            try:
                await asyncio.wait_for(self._http_server.close_all_connections(), 5)
            except TimeoutError:
                log.warning("some HTTP connections did not close within 5 s")
            self._http_server = None
        if self._runner is not None:
            await asyncio.get_running_loop().run_in_executor(None, db.close_database)
            self._runner = None

    async def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        tune_garbage_collector()
        await stop.wait()
        log.info("node %s stopping", self.settings.node_id)
        await self.stop()

    # --- callers ------------------------------------------------------------------------------

    async def authenticate(self, request: HTTPServerRequest) -> AuthOutcome:
        """Resolve the request's Bearer token (which wins) or session cookie."""
        token = sessions.bearer_token(request.headers)
        from_cookie = False
        if token is None:
            cookie = request.cookies.get(SESSION_COOKIE)
            token = cookie.value if cookie is not None else None
            from_cookie = token is not None
        if not token:
            return AuthOutcome(None, reason="NO_SESSION")
        return await self.resolve_token(token, from_cookie=from_cookie)

    async def authenticate_token(self, token: str) -> AuthState | None:
        """A token from a WebSocket `auth` frame: the live session, or None."""
        return (await self.resolve_token(token, from_cookie=False)).state

    async def resolve_token(self, token: str, *, from_cookie: bool) -> AuthOutcome:
        found = await sessions.lookup_token(token)
        user = found.user
        if found.problem == "NO_SESSION" or found.session is None or user is None:
            return AuthOutcome(None, ApiError("UNAUTHORIZED"), from_cookie, "REVOKED")
        if user.status == "DELETED":
            if found.problem is None:
                revoked = await sessions.revoke_user_sessions(user.id, "DELETED")
                await self.sessions_revoked(revoked, "DELETED")
            return AuthOutcome(None, ApiError("ACCOUNT_DELETED"), from_cookie, "ACCOUNT_DELETED")
        if user.status == "SUSPENDED" and (
            found.problem is None or found.session.revoke_reason == "SUSPENDED"
        ):
            if found.problem is None:
                revoked = await sessions.revoke_user_sessions(user.id, "SUSPENDED")
                await self.sessions_revoked(revoked, "SUSPENDED")
            return AuthOutcome(None, suspended_error(user), from_cookie, "ACCOUNT_SUSPENDED")
        if found.problem is not None:
            return AuthOutcome(None, ApiError("UNAUTHORIZED"), from_cookie, found.problem)
        state = AuthState(found.session, user, found.admin_role, token)
        if sessions.needs_touch(found.session):
            ttl_days = int(await self.system_settings.get("session_ttl_days"))
            found.session.expires_at = await sessions.touch_session(
                found.session.id, user.id, ttl_days)
            if from_cookie:
                state.refreshed_token = token
        return AuthOutcome(state)

    async def check_maintenance(self, path: str, auth: AuthState | None) -> None:
        if not path.startswith("/api/") or path.startswith(MAINTENANCE_EXEMPT_PREFIXES):
            return
        if not await self.system_settings.get("maintenance_mode"):
            return
        if auth is not None and auth.admin_role is not None:
            return
        raise ApiError("MAINTENANCE")

    # --- revocation ---------------------------------------------------------------------------

    def on_sessions_revoked(self, listener: RevocationListener) -> None:
        """Register a listener (the realtime layer) told which sessions were revoked and why."""
        self._revocation_listeners.append(listener)

    async def sessions_revoked(self, session_ids: list[str], reason: str) -> None:
        """Tell every listener; called after the revocation is committed."""
        if not session_ids:
            return
        for listener in self._revocation_listeners:
            try:
                await listener(session_ids, reason)
            except Exception:
                log.exception("revocation listener failed for %d sessions", len(session_ids))

    async def deliver_effects(self, effects: Effects) -> None:
        """After a write commits: events, removals and notification pushes go to the realtime
        layer (the registry). Revocations take `sessions_revoked`, called by the handlers."""
        for listener in self._effects_listeners:
            await listener(effects)

    def on_effects(self, listener: Callable[[Effects], Awaitable[None]]) -> None:
        self._effects_listeners.append(listener)

    def settings_changed(self) -> None:
        """System settings were written: clear this node's cache and every other node's."""
        self.system_settings.invalidate()
        if self.bus is not None:
            self.bus.publish_all({"t": "settings"})

    async def unread_count_changed(self, user_id: str, unread: int) -> None:
        """REST read-state changes push notification:unread-count to every socket (§7.14)."""
        if self.registry is not None:
            self.registry.push_unread_count(user_id, unread)

    async def _close_revoked_sockets(self, session_ids: list[str], reason: str) -> None:
        if self.registry is not None:
            self.registry.revoke_everywhere(session_ids, reason)

    async def close_sockets_of_revoked_sessions(self) -> int:
        """Close (1008) the sockets here whose login session the database says is revoked,
        whoever revoked it; returns how many sessions that was."""
        if self.registry is None or not self.registry.login_sessions:
            return 0
        revoked = await sessions.revoked_among(list(self.registry.login_sessions))
        for session_id, reason in revoked.items():
            self.registry.close_login_sessions([session_id], reason)
        return len(revoked)

    async def _poll_revocations_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(REVOCATION_POLL_SECONDS)
            try:
                await self.close_sockets_of_revoked_sessions()
                failing = False
            except Exception as exc:
                if not failing:  # once per outage, not twice a second
                    log.warning("looking for revoked sessions failed: %s", exc)
                failing = True

    def db_pending_calls(self) -> int:
        pending = self._runner.pending if self._runner is not None else 0
        metrics.DB_PENDING_CALLS.set(pending)
        return pending


def suspended_error(user: object) -> ApiError:
    from coup.jsonutil import iso

    return ApiError(
        "ACCOUNT_SUSPENDED",
        details={
            "suspended_until": iso(getattr(user, "suspended_until", None)),
            "reason": getattr(user, "suspend_reason", None),
        },
    )


class BusJobLock:
    """COUP.md §12: a job runs on one node at a time; the claim lives in the bus (a Redis key
    with a TTL in a cluster, so a node that dies mid-run frees it)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def acquire(self, job: str, ttl_seconds: float) -> bool:
        return await self.bus.acquire_job_lock(job, ttl_seconds)

    async def release(self, job: str) -> None:
        await self.bus.release_job_lock(job)


def tune_garbage_collector() -> None:
    """Fewer, shorter pauses of the cyclic garbage collector on a serving node.

    A full collection traverses every tracked object and stops the event loop while it runs:
    on this project's 2-core VM one took 40-100 ms once the node held a few hundred busy
    connections, which was the whole p99 of chat acknowledgements (bench scenario d). The
    modules, classes and functions loaded at start-up live as long as the process, so they are
    frozen out of every collection; and a larger first generation threshold makes collections
    rarer while each still finds the short-lived cycles of a request.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GENERATION0_THRESHOLD, *gc.get_threshold()[1:])
