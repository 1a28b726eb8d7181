"""GET /ws: authentication, Origin allow-list, hello, and handing frames to the SessionActor.

PROTOCOL §1: a cookie or bearer token on the upgrade, or an `auth` frame within 10 s. Refusals
before the upgrade are plain HTTP answers in the REST error envelope (401, 403, 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import tornado.websocket
from tornado.iostream import StreamClosedError

from coup import metrics, protocol
from coup.actors.session import DRAINING, OVERLOADED_RETRY_MS, SessionActor
from coup.errors import ApiError
from coup.handlers.base import as_api_error, error_envelope, log_request_exception
from coup.services import Services
from coup.store import sessions as session_store
from coup.store.sessions import AuthState

log = logging.getLogger(__name__)


class WebSocketHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, services: Services, route: str) -> None:
        self.services = services
        self.route = route
        self.auth: AuthState | None = None
        self.session: SessionActor | None = None
        self.heard_at = 0.0  # loop time of the last frame or pong (coup/actors/heartbeat.py)
        self._auth_timer: asyncio.TimerHandle | None = None

    async def get(self, *args: Any, **kwargs: Any) -> None:
        # Tornado's get() runs for the life of the connection, so the checks live in their own
        # coroutine: its locals (the session and user rows) are freed before the upgrade.
        if await self._admit():
            await super().get(*args, **kwargs)

    async def _admit(self) -> bool:
        """The checks before the upgrade; False when the request was refused."""
        headers = self.request.headers
        origin = headers.get("Origin")
        has_bearer = session_store.bearer_token(headers) is not None
        if origin is not None and not self._origin_allowed(origin):
            return self._refuse(ApiError("FORBIDDEN", message="this origin is not allowed"))
        if origin is None and not has_bearer:
            return self._refuse(ApiError(
                "FORBIDDEN", message="clients without an Origin must send a bearer token"))
        if self.services.status.draining:
            return self._refuse(ApiError("OVERLOADED", message="this node is shutting down"))
        outcome = await self.services.auth.authenticate(self.request)
        if outcome.error is not None:
            return self._refuse(outcome.error)
        self.auth = outcome.state
        if self.auth is not None:  # an auth-frame connection is checked once it authenticates
            try:
                await self.services.auth.check_maintenance("/api/ws", self.auth)
            except ApiError as exc:
                return self._refuse(exc)
        return True

    def _origin_allowed(self, origin: str) -> bool:
        """An allow-listed origin, or this server's own: the web app that `coup serve` itself
        served (whatever address the person typed, 127.0.0.1 or localhost) is same-origin, and
        a page on another site cannot claim our Host in its Origin."""
        origin = origin.rstrip("/")
        if origin in self.services.settings.allowed_origins:
            return True
        scheme, _, host = origin.partition("://")
        return scheme in ("http", "https") and host == self.request.host

    def _refuse(self, error: ApiError) -> bool:
        if error.http_status >= 500:
            metrics.HTTP_5XX.labels(self.route, error.code).inc()
        self.set_status(error.http_status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(error_envelope(error, self.services.settings.language))
        return False

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # An exception before the upgrade (a database outage while authenticating) leaves in
        # the REST envelope too, not as Tornado's HTML page.
        self.clear()
        self._refuse(as_api_error(status_code, kwargs.get("exc_info")))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        log_request_exception(self.request, "-", value, tb)

    def check_origin(self, origin: str) -> bool:
        return True  # checked in get(), with the bearer-token rule for native clients

    def get_compression_options(self) -> None:
        return None  # frames are encoded once and written as-is to every socket

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self, *args: Any, **kwargs: Any) -> None:
        self.set_nodelay(True)
        self.heard_at = asyncio.get_running_loop().time()
        if self.auth is not None:
            await self._start_session(self.auth)
        else:
            self._auth_timer = asyncio.get_running_loop().call_later(
                self.services.settings.ws_auth_timeout_seconds, self._auth_timed_out)

    def _auth_timed_out(self) -> None:
        if self.session is None:
            metrics.WS_CLOSES.labels(str(protocol.WS_4001_AUTH_TIMEOUT)).inc()
            self.close(protocol.WS_4001_AUTH_TIMEOUT, "no auth frame in time")

    async def _start_session(self, auth: AuthState) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        # The session keeps what it needs; the rows are not kept alive per connection.
        self.auth = None
        realtime = self.services.realtime
        self.session = realtime.open_session(self, auth)
        await realtime.send_hello(self.session)

    def send_ping(self) -> None:
        """One ping frame (coup/actors/heartbeat.py); nothing once the connection is closing."""
        connection = self.ws_connection
        if connection is not None and not connection.is_closing():
            with contextlib.suppress(StreamClosedError):
                connection.write_ping(b"")

    @property
    def closing(self) -> bool:
        connection = self.ws_connection
        return connection is None or connection.is_closing()

    def on_pong(self, data: bytes) -> None:
        self.heard_at = asyncio.get_running_loop().time()

    async def on_message(self, message: str | bytes) -> None:
        self.heard_at = asyncio.get_running_loop().time()
        if isinstance(message, bytes):
            metrics.WS_CLOSES.labels(str(protocol.WS_1003_UNSUPPORTED_DATA)).inc()
            self.close(protocol.WS_1003_UNSUPPORTED_DATA, "binary frames are not supported")
            return
        session = self.session
        if session is None:
            # A frame pipelined behind one that closed the connection (a bad token) is not
            # read: it would start a session on a closed socket.
            if not self.closing:
                await self._authenticate_frame(message)
            return
        await session.receive_text(message)

    async def _authenticate_frame(self, text: str) -> None:
        try:
            frame = protocol.decode_client_frame(text)
        except protocol.FrameError as exc:
            if exc.ref is not None:  # a ref always gets its one reply (PROTOCOL §2)
                self.write_message(protocol.error_reply_text(
                    exc.ref, protocol.BAD_REQUEST, exc.message(self.services.settings.language)))
            return
        if self.services.status.draining:
            if frame.ref is not None:
                self.write_message(protocol.error_reply_text(
                    frame.ref, protocol.OVERLOADED,
                    DRAINING.in_language(self.services.settings.language),
                    OVERLOADED_RETRY_MS))
            metrics.WS_CLOSES.labels(str(protocol.WS_1001_GOING_AWAY)).inc()
            self.close(protocol.WS_1001_GOING_AWAY, "server shutting down")
            return
        if frame.event != "auth":
            if frame.ref is not None:
                self.write_message(protocol.error_reply_text(
                    frame.ref, protocol.UNAUTHORIZED, "send an auth frame first"))
            return
        token = frame.data.get("token")
        state = await self.services.auth.authenticate_token(token) \
            if isinstance(token, str) else None
        if state is None:
            if frame.ref is not None:  # a ref always gets its one reply, even before a close
                self.write_message(protocol.error_reply_text(
                    frame.ref, protocol.UNAUTHORIZED, "the token is not valid"))
            metrics.WS_CLOSES.labels(str(protocol.WS_4001_AUTH_TIMEOUT)).inc()
            self.close(protocol.WS_4001_AUTH_TIMEOUT, "bad token")
            return
        try:
            await self.services.auth.check_maintenance("/api/ws", state)
        except ApiError:
            self.close(protocol.WS_1013_TRY_AGAIN_LATER, "maintenance")
            return
        if self.closing:  # the peer left (or the auth timer fired) during the look-up
            return
        self.auth = state
        await self._start_session(state)
        if frame.ref is not None and self.session is not None:
            self.session.reply(frame.ref, {})

    def on_close(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self.session is not None:
            self.session.connection_lost()
