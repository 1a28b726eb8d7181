"""Auth endpoints (COUP.md §7.1): csrf, sign-up, login, logout, me, sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from coup import metrics, passwords
from coup.auth import suspended_error
from coup.errors import ApiError, NotFound, RateLimited
from coup.handlers.base import ApiHandler
from coup.jsonutil import iso
from coup.localtime import utcnow
from coup.rules import USER_NAME
from coup.store import accounts, sessions, views
from coup.store.models import User
from coup.validation import Email, Password, parse_body


class CsrfHandler(ApiHandler):
    async def get(self) -> None:
        self.ok({"xsrf_token": self.xsrf_token.decode("ascii")})


class SignupHandler(ApiHandler):
    schema = {
        "email": Email(),
        "password": Password(),
        "password_confirm": Password(required=False),
        "name": USER_NAME,
    }

    async def post(self) -> None:
        if not await self.services.system_settings.get("allow_signup"):
            raise ApiError("SIGNUP_DISABLED")
        wait = await self.services.limits.signup.hit(self.client_ip())
        if wait:
            raise RateLimited(wait)
        data = parse_body(self.json_body(), self.schema)
        min_length = int(await self.services.system_settings.get("min_password_length"))
        problem = passwords.password_problem(data["password"], email=data["email"],
                                             min_length=min_length)
        if problem:
            raise ApiError("WEAK_PASSWORD", fields={"password": problem})
        confirm = data.get("password_confirm")
        if confirm is not None and confirm != data["password"]:
            raise ApiError("PASSWORD_MISMATCH", fields={"password_confirm": "does not match"})
        password_hash = await passwords.hash_password_async(
            data["password"], self.services.settings.bcrypt_rounds)
        created = await accounts.create_account(
            data["email"], password_hash, data["name"], ip=self.client_ip(),
            user_agent=self.request.headers.get("User-Agent"),
            ttl_days=int(await self.services.system_settings.get("session_ttl_days")),
        )
        self.set_session(created.token, created.expires_at)
        self.created({"user": created.user, "token": created.token,
                      "expires_at": iso(created.expires_at)})


class LoginHandler(ApiHandler):
    schema = {"email": Email(required=True), "password": Password()}

    async def post(self) -> None:
        body = self.json_body()
        data = parse_body(body, self.schema)
        email, password, ip = data["email"], data["password"], self.client_ip()
        settings = await self.services.system_settings.all()
        # Step 2: the attempt is counted (as a failure) before its password is checked, so
        # parallel guesses cannot all pass a count read before any of them failed.
        attempt = await accounts.reserve_login_attempt(
            email, ip, window=timedelta(minutes=int(settings["login_lockout_minutes"])),
            max_attempts=int(settings["max_login_attempts"]))
        try:
            if settings["enable_ip_blocking"]:
                wait = await self.services.limits.login_ip.hit(ip)
                if wait:
                    raise RateLimited(wait)
            user, password_hash = await self._check_password(email, password)
            await self._log_in(user, password_hash, password, attempt, settings)
        except BaseException as exc:
            # The attempt stays a failure only when its password was checked and was wrong;
            # whatever else stopped it (the IP limit, a suspension in force, a database error)
            # is not a failed guess.
            if not (isinstance(exc, ApiError) and exc.code == "INVALID_CREDENTIALS"):
                await accounts.release_login_attempt(attempt)
            raise

    async def _check_password(self, email: str, password: str) -> tuple[User, str]:
        """Step 3: the user whose password this is, and the hash it was checked against;
        INVALID_CREDENTIALS (the reserved attempt stays a failure) for an unknown email, a
        deleted account, no password or a wrong one."""
        user = await accounts.find_user_by_email(email)
        if user is None or user.status == "DELETED" or user.password_hash is None:
            await passwords.dummy_verify_async(password, self.services.settings.bcrypt_rounds)
        elif await passwords.verify_password_async(password, user.password_hash):
            return user, user.password_hash
        metrics.LOGIN_FAILURES.inc()
        raise ApiError("INVALID_CREDENTIALS")

    async def _log_in(self, user: User, password_hash: str, password: str,
                      attempt: accounts.LoginAttempt, settings: dict[str, Any]) -> None:
        """Steps 4-7, once the password is known to match `password_hash`."""
        if user.status == "SUSPENDED":
            user = await accounts.lift_expired_suspension(user.id)
            if user.status == "SUSPENDED":
                raise suspended_error(user)
        rounds = self.services.settings.bcrypt_rounds
        new_hash = None
        if passwords.needs_rehash(password_hash, rounds):
            # An old-format or cheaper hash is replaced now that the password is at hand.
            new_hash = await passwords.hash_password_async(password, rounds)
        created = await accounts.complete_login(
            user.id, attempt, new_password_hash=new_hash,
            user_agent=self.request.headers.get("User-Agent"),
            ttl_days=int(settings["session_ttl_days"]),
        )
        self.set_session(created.token, created.expires_at)
        self.ok(accounts.login_view(created))


class LogoutHandler(ApiHandler):
    async def post(self) -> None:
        self.json_body(allow_empty=True)
        if self.auth is not None:  # its sockets close with the revocation's effects
            await sessions.revoke_session(self.auth.session.id, "LOGOUT")
        self.clear_session_cookie()
        self.ok(None)


class MeHandler(ApiHandler):
    async def get(self) -> None:
        auth = self.require_user()
        me = await accounts.load_me(auth.user.id)
        self.ok({
            "user": me,
            "is_admin": auth.admin_role is not None,
            "admin_role": views.admin_role(auth.admin_role, with_permissions=True),
            "restrictions": views.restrictions(auth.user, utcnow()),
            "session": {"id": auth.session.id, "expires_at": iso(auth.session.expires_at)},
        })


class ValidateSessionHandler(ApiHandler):
    async def get(self) -> None:
        if self.auth is not None:
            user = self.auth.user
            self.ok({"valid": True, "user": {**views.user_summary(user), "status": user.status},
                     "reason": None, "should_logout": False})
            return
        reason = self.auth_reason or "NO_SESSION"
        self.ok({"valid": False, "user": None, "reason": reason,
                 "should_logout": reason != "NO_SESSION"})


class SessionsHandler(ApiHandler):
    async def get(self) -> None:
        auth = self.require_user()
        rows = await sessions.list_live_sessions(auth.user.id)
        self.ok([
            {"id": s.id, "created_at": iso(s.created_at), "last_seen_at": iso(s.last_seen_at),
             "expires_at": iso(s.expires_at), "ip": s.ip, "user_agent": s.user_agent,
             "current": s.id == auth.session.id}
            for s in rows
        ])


class SessionHandler(ApiHandler):
    async def delete(self, session_id: str) -> None:
        auth = self.require_user()
        session = await sessions.find_live_session(auth.user.id, session_id)
        if session is None:
            raise NotFound()
        reason = "LOGOUT" if session.id == auth.session.id else "USER_REVOKED"
        await sessions.revoke_session(session.id, reason)
        if session.id == auth.session.id:
            self.clear_session_cookie()
        self.ok(None)

