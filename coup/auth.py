"""Who is calling: the session cookie or bearer token of a request, and the maintenance rule.

An account found DELETED or SUSPENDED on use has its live sessions revoked here; the revocation
is a write like any other, so its sockets close with the write's effects (coup/store/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from tornado.httputil import HTTPServerRequest

from coup.errors import ApiError
from coup.jsonutil import iso
from coup.store import sessions
from coup.store.models import User
from coup.store.sessions import AuthState
from coup.store.system_settings import SettingsCache

# The session cookie's name (COUP.md §5.1): set by the REST handlers, read by the WebSocket.
SESSION_COOKIE = "coup_session"
# Paths that keep working in maintenance mode (COUP.md §11 maintenance_mode).
MAINTENANCE_EXEMPT_PREFIXES = ("/api/auth/", "/api/config", "/api/openapi.json", "/health",
                               "/ready", "/metrics")


@dataclass
class AuthOutcome:
    """The caller of a request: a live session, or why there is none."""

    state: AuthState | None
    error: ApiError | None = None
    clear_cookie: bool = False
    # Why there is no session, for validate-session: NO_SESSION, EXPIRED, REVOKED,
    # ACCOUNT_SUSPENDED or ACCOUNT_DELETED.
    reason: str | None = None


class Authenticator:
    def __init__(self, system_settings: SettingsCache) -> None:
        self._system_settings = system_settings

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
                await sessions.revoke_user_sessions(user.id, "DELETED")
            return AuthOutcome(None, ApiError("ACCOUNT_DELETED"), from_cookie, "ACCOUNT_DELETED")
        if user.status == "SUSPENDED" and (
            found.problem is None or found.session.revoke_reason == "SUSPENDED"
        ):
            if found.problem is None:
                await sessions.revoke_user_sessions(user.id, "SUSPENDED")
            return AuthOutcome(None, suspended_error(user), from_cookie, "ACCOUNT_SUSPENDED")
        if found.problem is not None:
            return AuthOutcome(None, ApiError("UNAUTHORIZED"), from_cookie, found.problem)
        state = AuthState(found.session, user, found.admin_role, token)
        if sessions.needs_touch(found.session):
            ttl_days = int(await self._system_settings.get("session_ttl_days"))
            found.session.expires_at = await sessions.touch_session(
                found.session.id, user.id, ttl_days)
            if from_cookie:
                state.refreshed_token = token
        return AuthOutcome(state)

    async def check_maintenance(self, path: str, auth: AuthState | None) -> None:
        if not path.startswith("/api/") or path.startswith(MAINTENANCE_EXEMPT_PREFIXES):
            return
        if not await self._system_settings.get("maintenance_mode"):
            return
        if auth is not None and auth.admin_role is not None:
            return
        raise ApiError("MAINTENANCE")


def suspended_error(user: User) -> ApiError:
    return ApiError(
        "ACCOUNT_SUSPENDED",
        details={"suspended_until": iso(user.suspended_until), "reason": user.suspend_reason},
    )
