"""The base of every REST handler: body limits, strict JSON, envelopes, auth, XSRF, CORS, errors.

Handlers raise ApiError; `write_error` is the one place that renders errors, so every failure,
including Tornado's own (unknown route, wrong method, XSRF), leaves in the same envelope.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import time
from collections.abc import Awaitable, Mapping
from typing import Any

import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.httputil import HTTPServerRequest

from coup import inbound, jsonutil, metrics
from coup.auth import SESSION_COOKIE
from coup.errors import ApiError, BadRequest, Forbidden, Unauthorized
from coup.services import Services
from coup.store import sessions as session_store
from coup.store.sessions import AuthState
from coup.validation import Rule, parse_body

log = logging.getLogger(__name__)

# COUP.md §1 item 1: JSON bodies over 1 MiB are refused.
MAX_JSON_BODY_BYTES = 1024 * 1024
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CORS_ALLOWED_HEADERS = "Content-Type, Authorization, X-XSRFToken"
CORS_EXPOSED_HEADERS = "Retry-After, Content-Disposition, X-File-Id"
# A body past its cap is still read (and thrown away) for up to this much more, so that the
# client is listening when the 413 comes: closing a socket with unread input makes TCP reset
# the connection, and the client loses the answer. A chunked body declares no length, so this
# is the only way it learns the limit. Past this, the 413 is sent at once and the connection
# closed.
OVERSIZED_DRAIN_BYTES = 64 * 1024 * 1024
# Tornado's own cap is lifted out of the way: it judges a chunked body by the sizes its chunks
# declare, so one large chunk would be refused before data_received saw a byte, and its
# refusal is a bare 400 with no envelope. data_received bounds the body instead.
TORNADO_BODY_CAP = 2**62


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """Streams the body itself, so an oversized request is refused without being buffered."""

    # Handlers that accept uploads raise this; JSON handlers keep the 1 MiB limit.
    max_body_bytes = MAX_JSON_BODY_BYTES

    def initialize(self, services: Services, route: str) -> None:
        self.services = services
        self.route = route
        self.request_id = secrets.token_hex(6)
        self.auth: AuthState | None = None
        self._auth_error: ApiError | None = None
        self.auth_reason: str | None = None
        self._body_parts: list[bytes] = []
        self._body_size = 0
        self._body_too_large = False
        self._started = time.perf_counter()
        self._error_code: str | None = None  # the envelope's code, once write_error ran
        # Until prepare() returns, Tornado has not read the body; an error answered in that
        # window makes Tornado drop the connection, so the response must say so.
        self._body_pending = True

    # --- request body -------------------------------------------------------------------------

    async def prepare(self) -> None:
        self._apply_cors_headers()
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise ApiError(self.too_large_code())
        # Chunked bodies have no length up front; data_received counts them instead.
        # Served by tornado.httpserver, a request's connection is always an HTTP1Connection
        # (only a hand-built request has none, and the interface lacks the body cap).
        connection = self.request.connection
        assert isinstance(connection, HTTP1Connection)
        connection.set_max_body_size(TORNADO_BODY_CAP)
        outcome = await self.services.auth.authenticate(self.request)
        self.auth, self._auth_error = outcome.state, outcome.error
        self.auth_reason = outcome.reason
        if outcome.clear_cookie:
            self.clear_session_cookie()
        if self.auth is not None and self.auth.refreshed_token is not None:
            self._set_session_cookie(self.auth.refreshed_token, self.auth.session.expires_at)
        await self.services.auth.check_maintenance(self.request.path, self.auth)
        self._body_pending = False

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        # Tornado awaits what this returns; subclasses may make it a coroutine (files.py).
        self._body_size += len(chunk)
        if self._body_size > self.max_body_bytes + OVERSIZED_DRAIN_BYTES:
            self.refuse_rest_of_body()
            return None
        if self._body_too_large:
            return None
        if self._body_size > self.max_body_bytes:
            self._body_too_large = True
            self._body_parts.clear()
            return None
        self._body_parts.append(chunk)
        return None

    def too_large_code(self) -> str:
        return "REQUEST_TOO_LARGE"

    def refuse_rest_of_body(self) -> None:
        """413 now, in the envelope, without reading further; Tornado then closes."""
        if self._finished:
            return
        self._body_pending = True  # write_error adds Connection: close
        error = ApiError(self.too_large_code())
        self.send_error(error.http_status, exc_info=(type(error), error, None))

    def raw_body(self) -> bytes:
        if self._body_too_large:
            raise ApiError(self.too_large_code())
        return b"".join(self._body_parts)

    def json_body(self, *, allow_empty: bool = False) -> Any:
        raw = self.raw_body()
        if not raw.strip():
            if allow_empty:
                return {}
            raise BadRequest(message="A JSON object body is required.")
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise BadRequest(message="Send the body as application/json.")
        return inbound.parse_json_body(raw)

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        # Tornado decodes every query and path argument here: the inbound text rule's
        # boundary for them (Tornado then turns other control characters into spaces).
        return inbound.decode_text(value, name or "the path")

    def parse(self, schema: Mapping[str, Rule], *, partial: bool = False,
              allow_empty: bool = False) -> dict[str, Any]:
        return parse_body(self.json_body(allow_empty=allow_empty), schema, partial=partial)

    # --- auth ---------------------------------------------------------------------------------

    def require_user(self) -> AuthState:
        """The caller's session and user (access level USER, COUP.md §3.1)."""
        if self.auth is None:
            raise self._auth_error or Unauthorized()
        return self.auth

    @property
    def user_id(self) -> str:
        return self.require_user().user.id

    def check_xsrf_cookie(self) -> None:
        # Bearer requests carry no ambient credential, and a request with neither a cookie nor
        # an Origin cannot come from a browser (COUP.md §5.2), so neither needs the token.
        headers = self.request.headers
        if session_store.bearer_token(headers) is not None:
            return
        if "Cookie" not in headers and "Origin" not in headers:
            return
        try:
            super().check_xsrf_cookie()
        except tornado.web.HTTPError:
            raise ApiError("CSRF_FAILED") from None

    def client_ip(self) -> str:
        return client_ip(self.request, self.services.settings.trusted_proxies)

    def _set_session_cookie(self, token: str, expires_at: Any) -> None:
        max_age = max(0, int((expires_at - session_store.utcnow()).total_seconds()))
        self.set_cookie(
            SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax",
            secure=self.services.settings.secure_cookies, max_age=max_age,
        )

    def set_session(self, token: str, expires_at: Any) -> None:
        self._set_session_cookie(token, expires_at)

    def clear_session_cookie(self) -> None:
        self.clear_cookie(SESSION_COOKIE, path="/")

    # --- responses ----------------------------------------------------------------------------

    def ok(self, data: Any = None, *, status: int = 200,
           pagination: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"success": True, "data": data}
        if pagination is not None:
            body["pagination"] = pagination
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(jsonutil.dumps(body))

    def created(self, data: Any) -> None:
        self.ok(data, status=201)

    def options(self, *args: Any, **kwargs: Any) -> None:
        # CORS preflight: the headers were set in prepare(); nothing else to say.
        self.set_status(200)
        self.finish()

    def _apply_cors_headers(self) -> None:
        origin = self.request.headers.get("Origin")
        if origin and origin.rstrip("/") in self.services.settings.allowed_origins:
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Allow-Credentials", "true")
            self.set_header("Access-Control-Expose-Headers", CORS_EXPOSED_HEADERS)
            self.add_header("Vary", "Origin")
            if self.request.method == "OPTIONS":
                self.set_header("Access-Control-Allow-Methods",
                                "GET, POST, PUT, PATCH, DELETE, OPTIONS")
                self.set_header("Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS)
                self.set_header("Access-Control-Max-Age", "600")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = as_api_error(status_code, kwargs.get("exc_info"))
        self._error_code = error.code
        if error.http_status >= 500:
            # Counted before the response leaves, so a client that has read it sees it counted.
            metrics.HTTP_5XX.labels(self.route, error.code).inc()
        self.clear()
        self._apply_cors_headers()
        self.set_status(error.http_status)
        if error.code == "RATE_LIMITED" and error.details:
            seconds = max(1, -(-int(error.details["retry_after_ms"]) // 1000))
            self.set_header("Retry-After", str(seconds))
        if error.code == "INTERNAL":
            self.set_header("X-Request-Id", self.request_id)
        if self._body_pending:
            self.set_header("Connection", "close")
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(error_envelope(error, self.services.settings.language))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        log_request_exception(self.request, self.request_id, value, tb)

    def on_finish(self) -> None:
        elapsed = time.perf_counter() - self._started
        method = self.request.method or "GET"
        metrics.HTTP_REQUESTS.labels(self.route, method, str(self.get_status())).inc()
        metrics.HTTP_REQUEST_SECONDS.labels(self.route, method).observe(elapsed)
        if self.get_status() >= 500 and self._error_code is None:
            # A 5xx a handler set itself (the 503 of /ready); write_error counts the others.
            metrics.HTTP_5XX.labels(self.route, "NONE").inc()


class NotFoundHandler(ApiHandler):
    """Every unknown path gets the NOT_FOUND envelope rather than Tornado's HTML page."""

    async def prepare(self) -> None:
        self._apply_cors_headers()
        raise ApiError("NOT_FOUND")


def log_request_exception(request: HTTPServerRequest, request_id: str, value: Any,
                          tb: Any) -> None:
    """Expected errors are one-line warnings; only unexpected ones carry a traceback."""
    if isinstance(value, ApiError):
        if value.http_status >= 500:
            # A designed answer (OVERLOADED, MAINTENANCE, OAUTH_FAILED), with the traceback of
            # what caused it (a lost database connection) when there is one.
            cause = value.__cause__ or value.__context__
            log.warning("%s %s -> %s (request %s)", request.method, request.path, value.code,
                        request_id,
                        exc_info=(type(cause), cause, cause.__traceback__) if cause else None)
        return
    if isinstance(value, tornado.web.HTTPError) and value.status_code < 500:
        return
    log.error("unexpected error in %s %s (request %s)", request.method, request.path,
              request_id, exc_info=(type(value), value, tb))


def error_envelope(error: ApiError, language: str) -> str:
    """The body of every error answer over HTTP (REST, the WebSocket upgrade, avatars)."""
    return jsonutil.dumps({"success": False, "error": error.to_json(language)})


def as_api_error(status_code: int, exc_info: Any) -> ApiError:
    """The ApiError to render for whatever Tornado's send_error was called with."""
    exc = exc_info[1] if exc_info else None
    if isinstance(exc, ApiError):
        return exc
    if status_code == 404:
        return ApiError("NOT_FOUND")
    if status_code == 405:
        return ApiError("METHOD_NOT_ALLOWED")
    if status_code == 413:
        return ApiError("REQUEST_TOO_LARGE")
    if status_code == 403:
        return Forbidden()
    if 400 <= status_code < 500:
        return BadRequest()
    return ApiError("INTERNAL")


def client_ip(request: HTTPServerRequest, trusted: tuple[Any, ...]) -> str:
    """The socket address, unless it is a trusted proxy that names the real client."""
    peer = request.remote_ip or ""
    if not trusted or not _in_networks(peer, trusted):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    # Walk from the nearest hop outwards and stop at the first address we do not trust.
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _in_networks(hop, trusted):
            return hop
    return request.headers.get("X-Real-IP", peer).strip() or peer


def _in_networks(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
