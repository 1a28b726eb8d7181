"""Operational endpoints (COUP.md §7.19): /health, /ready, /api/config and /metrics."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

import prometheus_client

from coup.errors import ApiError
from coup.handlers.base import ApiHandler
from coup.jsonutil import dumps
from coup.store.db import database, db_task, pending_calls

log = logging.getLogger(__name__)

# A health probe that waits longer than this for the database reports it unreachable.
DB_PROBE_TIMEOUT_SECONDS = 2.0


@db_task
def _ping_database() -> bool:
    database.execute_sql("SELECT 1").fetchone()
    return True


async def database_reachable() -> bool:
    try:
        return await asyncio.wait_for(_ping_database(), DB_PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not reachable" to a probe
        log.warning("database probe failed: %s", exc)
        return False


class ProbeHandler(ApiHandler):
    """Probes skip session lookup: load balancers call them several times a second."""

    async def prepare(self) -> None:
        self._apply_cors_headers()

    def write_json(self, status: int, body: dict[str, object]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(dumps(body))


class HealthHandler(ProbeHandler):
    async def get(self) -> None:
        db_ok = await database_reachable()
        redis_ok = self.services.bus.healthy if self.services.settings.redis_url else None
        self.write_json(200 if db_ok else 503, {
            "status": "ok" if db_ok and redis_ok is not False else "degraded",
            "node": self.services.settings.node_id,
            "db": db_ok,
            "redis": redis_ok,
        })


class ReadyHandler(ProbeHandler):
    async def get(self) -> None:
        db_ok = await database_reachable()
        bus_ok = self.services.bus.healthy
        draining = self.services.status.draining
        ready = db_ok and bus_ok and not draining
        self.write_json(200 if ready else 503, {
            "ready": ready, "node": self.services.settings.node_id, "db": db_ok, "bus": bus_ok,
            "draining": draining,
        })


class ConfigHandler(ApiHandler):
    async def get(self) -> None:
        settings = self.services.settings
        values = await self.services.system_settings.all()
        providers = [name for name, configured in (
            ("google", settings.google_client_id and settings.google_client_secret),
            ("github", settings.github_client_id and settings.github_client_secret),
        ) if configured]
        self.ok({
            "site_name": values["site_name"],
            "site_description": values["site_description"],
            "contact_email": values["contact_email"],
            "allow_signup": values["allow_signup"],
            "allow_study_creation": values["allow_study_creation"],
            "allow_file_upload": values["allow_file_upload"],
            "max_file_size_mb": values["max_file_size"],
            "max_study_members": values["max_study_members"],
            "maintenance_mode": values["maintenance_mode"],
            "oauth_providers": providers,
            "study_quota_bytes": settings.study_quota_bytes,
            "chat_rate": {"messages": settings.chat_rate.count,
                          "window_seconds": settings.chat_rate.window_seconds},
            "time_zone": settings.timezone,
            "language": settings.language,
        })


class MetricsHandler(ProbeHandler):
    async def get(self) -> None:
        if not self._allowed():
            raise ApiError("FORBIDDEN", message="metrics are not served to this address")
        pending_calls()  # the gauge, read now
        self.set_header("Content-Type", prometheus_client.CONTENT_TYPE_LATEST)
        self.finish(prometheus_client.generate_latest())

    def _allowed(self) -> bool:
        settings = self.services.settings
        token = settings.metrics_token
        header = self.request.headers.get("Authorization", "")
        if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
            return True
        try:
            peer = ipaddress.ip_address(self.request.remote_ip or "")
        except ValueError:
            return False
        return any(peer in network for network in settings.metrics_allow)
