"""The composition root: settings -> store -> (bus, actors) -> services -> app -> listen; stop
in reverse. It composes and runs; what the parts do lives in them."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

import tornado.httpserver

from coup.actors.realtime import Realtime
from coup.app import make_app
from coup.auth import Authenticator
from coup.bus import BusJobLock, make_bus
from coup.config import Settings, resolve_cookie_secret
from coup.jobs import JobScheduler
from coup.ratelimit import Limits
from coup.services import Services
from coup.status import NodeStatus
from coup.store import db, notifications
from coup.store.events import install_effects_sink
from coup.store.migrate import apply_migrations
from coup.store.system_settings import SettingsCache, seed_settings

log = logging.getLogger(__name__)

# Largest request body the HTTP server accepts at all; handlers set tighter limits per route.
SERVER_MAX_BODY_BYTES = 256 * 1024 * 1024
# PROTOCOL §10: a node drains within this bound after SIGTERM.
DRAIN_TIMEOUT_SECONDS = 30.0
# Allocations (net of frees) between collections of the youngest generation; CPython's
# default is 700. See tune_garbage_collector().
GC_GENERATION0_THRESHOLD = 10_000


class Node:
    services: Services  # built by start()

    def __init__(self, settings: Settings) -> None:
        self.status = NodeStatus(resolve_cookie_secret(settings))
        self._http_server: tornado.httpserver.HTTPServer | None = None
        self._jobs: JobScheduler | None = None
        self._database_open = False

    @property
    def settings(self) -> Settings:
        return self.status.settings

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, listen: bool = True) -> None:
        settings = self.settings
        runner = db.open_database(settings.database_url, settings.db_pool_size)
        self._database_open = True
        applied = await runner.run(apply_migrations, db.database.obj)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        await seed_settings()
        notifications.configure_language(settings.language)
        bus = make_bus(settings)
        system_settings = SettingsCache()
        limits = Limits(settings, bus)
        realtime = Realtime(self.status, bus, limits, system_settings)
        self.services = Services(self.status, system_settings, Authenticator(system_settings),
                                 realtime, limits, bus)
        install_effects_sink(realtime.deliver_effects)
        await realtime.start()
        if settings.run_jobs:
            self._jobs = JobScheduler(settings, BusJobLock(bus))
            self._jobs.start()
        settings.upload_dir.mkdir(parents=True, exist_ok=True)
        (settings.upload_dir / "avatars").mkdir(parents=True, exist_ok=True)
        if listen:
            self._http_server = tornado.httpserver.HTTPServer(
                make_app(self.services), xheaders=False, max_body_size=SERVER_MAX_BODY_BYTES,
                idle_connection_timeout=75,
            )
            self._http_server.listen(settings.port, settings.host)
            log.info("node %s listening on http://%s:%d", settings.node_id, settings.host,
                     self.bound_port)

    @property
    def bound_port(self) -> int:
        if self._http_server is None:
            return self.settings.port
        sockets = list(self._http_server._sockets.values())
        return sockets[0].getsockname()[1] if sockets else self.settings.port

    async def stop(self) -> None:
        """Drain (PROTOCOL §10): refuse new work, flush what is owed, close sockets with 1001."""
        self.status.draining = True
        if self._jobs is not None:
            await self._jobs.stop()
            self._jobs = None
        if self._http_server is not None:
            self._http_server.stop()  # no new connections; /ready already answers 503
            if self.settings.drain_delay_seconds:
                await asyncio.sleep(self.settings.drain_delay_seconds)
        services = getattr(self, "services", None)
        if services is not None:
            await services.realtime.drain(DRAIN_TIMEOUT_SECONDS)
        install_effects_sink(None)
        if self._http_server is not None:
            try:
                await asyncio.wait_for(self._http_server.close_all_connections(), 5)
            except TimeoutError:
                log.warning("some HTTP connections did not close within 5 s")
            self._http_server = None
        if self._database_open:
            await asyncio.get_running_loop().run_in_executor(None, db.close_database)
            self._database_open = False

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
