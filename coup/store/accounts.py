"""Accounts: sign-up, the database steps of login (COUP.md §5.3), and the account views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee

from coup.errors import ApiError, RateLimited
from coup.jsonutil import iso
from coup.localtime import utcnow
from coup.store import views
from coup.store.db import database, db_task, db_transaction, is_postgres
from coup.store.events import db_write
from coup.store.fields import new_id
from coup.store.models import AdminRole, LoginFailure, OAuthAccount, Sanction, User
from coup.store.sessions import create_session_row, live_admin_role


@dataclass(frozen=True)
class NewSession:
    """A session just created for a user, with what the login/sign-up response shows."""

    token: str
    session_id: str
    expires_at: datetime
    user: dict[str, Any]
    admin_role: AdminRole | None
    restrictions: dict[str, Any] | None
    evicted_session_ids: list[str]


def linked_providers(user_id: str) -> list[str]:
    return [a.provider for a in OAuthAccount.select(OAuthAccount.provider)
            .where(OAuthAccount.user == user_id)]


def me_view(user: User) -> dict[str, Any]:
    return views.me(user, linked_providers(user.id))


@db_task
def load_me(user_id: str) -> dict[str, Any]:
    return me_view(User.get_by_id(user_id))


@db_write
def create_account(email: str, password_hash: str, name: str, *, ip: str | None,
                   user_agent: str | None, ttl_days: int) -> NewSession:
    """Insert a CREDENTIALS user and its first session; EMAIL_TAKEN when the email is used."""
    if User.select(User.id).where(User.email == email).exists():
        raise ApiError("EMAIL_TAKEN", fields={"email": "is already registered"})
    now = utcnow()
    try:
        with User._meta.database.atomic():
            user = User.create(id=new_id(), email=email, password_hash=password_hash, name=name,
                               provider="CREDENTIALS", status="ACTIVE", restricted_actions=[],
                               created_at=now, updated_at=now, last_login_at=now)
    except peewee.IntegrityError:
        # Two sign-ups raced for the same address; the unique index decided.
        raise ApiError("EMAIL_TAKEN", fields={"email": "is already registered"}) from None
    return _new_session(user, ip, user_agent, ttl_days)


def _new_session(user: User, ip: str | None, user_agent: str | None,
                 ttl_days: int) -> NewSession:
    token, session, evicted = create_session_row(user.id, ip, user_agent, ttl_days)
    now = utcnow()
    return NewSession(
        token=token, session_id=session.id, expires_at=session.expires_at, user=me_view(user),
        admin_role=live_admin_role(user.id, now), restrictions=views.restrictions(user, now),
        evicted_session_ids=evicted,
    )


@db_task
def find_user_by_email(email: str) -> User | None:
    return User.select().where(User.email == email).first()


@dataclass(frozen=True)
class LoginAttempt:
    """A password check reserved for an (email, IP) pair: its row in login_failures."""

    id: str
    email: str
    ip: str
    created_at: datetime


@db_transaction
def reserve_login_attempt(email: str, ip: str, *, window: timedelta,
                          max_attempts: int) -> LoginAttempt:
    """Login step 2, atomically: RATE_LIMITED when the pair already has `max_attempts` rows in
    the window, else record this attempt as a failure before its password is checked.

    The count and the insert run under a lock on the pair (an advisory transaction lock on
    PostgreSQL; SQLite's single writer thread on the embedded setup), so however many attempts
    arrive at once, on however many nodes, at most `max_attempts` are checked per window. The
    row stays a failure unless the check succeeds (complete_login deletes it) or never runs
    (release_login_attempt).
    """
    email, ip = email[:255], ip[:45]
    if is_postgres():
        # A hash collision only makes two pairs wait for each other's short transaction.
        database.execute_sql("SELECT pg_advisory_xact_lock(hashtext('coup:login:' || %s))",
                             (f"{email}|{ip}",))
    now = utcnow()
    counted = [f.created_at for f in LoginFailure.select(LoginFailure.created_at)
               .where(_pair(email, ip) & (LoginFailure.created_at > now - window))
               .order_by(LoginFailure.created_at.asc())]
    if len(counted) >= max_attempts:
        # Locked until enough of those rows leave the window for one more to fit.
        raise RateLimited((counted[-max_attempts] + window - now).total_seconds())
    row = LoginFailure.create(id=new_id(), email=email, ip=ip, created_at=now)
    return LoginAttempt(row.id, email, ip, now)


@db_task
def release_login_attempt(attempt: LoginAttempt) -> None:
    """The reserved check did not run (another limit refused the request): forget it."""
    LoginFailure.delete().where(LoginFailure.id == attempt.id).execute()


def _pair(email: str, ip: str) -> peewee.Expression:
    return (LoginFailure.email == email) & (LoginFailure.ip == ip)


@db_transaction
def lift_expired_suspension(user_id: str) -> User:
    """End a temporary suspension whose time has passed (login step 4); returns the user."""
    user = User.get_by_id(user_id)
    now = utcnow()
    if user.status == "SUSPENDED" and user.suspended_until is not None \
            and user.suspended_until <= now:
        User.update(status="ACTIVE", suspended_until=None, suspend_reason=None).where(
            User.id == user_id).execute()
        Sanction.update(is_active=False).where(
            (Sanction.user == user_id) & (Sanction.type == "SUSPENSION")
            & Sanction.is_active).execute()
        user = User.get_by_id(user_id)
    return user


def clear_expired_restrictions_now(user_id: str) -> None:
    """Deactivate lapsed RESTRICTION sanctions and recompute the user's restriction cache."""
    now = utcnow()
    Sanction.update(is_active=False).where(
        (Sanction.user == user_id) & (Sanction.type == "RESTRICTION") & Sanction.is_active
        & Sanction.expires_at.is_null(False) & (Sanction.expires_at <= now)).execute()
    actions: set[str] = set()
    until: datetime | None = None
    for sanction in Sanction.select().where(
            (Sanction.user == user_id) & (Sanction.type == "RESTRICTION") & Sanction.is_active):
        actions.update((sanction.metadata or {}).get("restrictions", []))
        if sanction.expires_at is not None and (until is None or sanction.expires_at > until):
            until = sanction.expires_at
    User.update(restricted_actions=sorted(actions), restricted_until=until if actions else None
                ).where(User.id == user_id).execute()


@db_write
def complete_login(user_id: str, attempt: LoginAttempt, *, new_password_hash: str | None,
                   user_agent: str | None, ttl_days: int) -> NewSession:
    """Login steps 5-7: clear lapsed restrictions, re-hash if asked, forget failures, session.

    The failures forgotten are the pair's rows up to this attempt's own reservation, as if the
    attempts had come one at a time in the order they were reserved: those that began after this
    one (their checks may still be running) keep counting, so a right password inside a burst of
    guesses frees no more room than it would have one by one.
    """
    clear_expired_restrictions_now(user_id)
    now = utcnow()
    changes: dict[str, Any] = {"last_login_at": now}
    if new_password_hash is not None:
        changes["password_hash"] = new_password_hash
    # The password was checked in an earlier transaction: an account deleted or suspended
    # since then must not get a session. The UPDATE takes the user's row lock, so a deletion
    # either committed before it (no row matches) or revokes this session after it.
    if not User.update(**changes).where((User.id == user_id) & (User.status == "ACTIVE")).execute():
        raise ApiError("INVALID_CREDENTIALS")
    LoginFailure.delete().where(
        (LoginFailure.id == attempt.id)
        | (_pair(attempt.email, attempt.ip) & (LoginFailure.created_at <= attempt.created_at))
    ).execute()
    return _new_session(User.get_by_id(user_id), attempt.ip, user_agent, ttl_days)


def login_view(created: NewSession) -> dict[str, Any]:
    return {
        "user": created.user,
        "token": created.token,
        "expires_at": iso(created.expires_at),
        "is_admin": created.admin_role is not None,
        "admin_role": views.admin_role(created.admin_role),
        "restrictions": created.restrictions,
    }
