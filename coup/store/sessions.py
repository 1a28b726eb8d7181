"""Login sessions (COUP.md §5.1): opaque tokens stored hashed, sliding expiry, revocation."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from coup.localtime import utcnow
from coup.store.db import database, db_task, db_transaction
from coup.store.events import db_write, sessions_revoked
from coup.store.fields import new_id
from coup.store.models import AdminRole, Session, User
from coup.store.rows import column_list, field_count, model_from_row

# At most this many live sessions per user; one more revokes the least recently used.
MAX_LIVE_SESSIONS_PER_USER = 50
# expires_at / last_seen_at are pushed forward at most this often, to limit writes.
SESSION_TOUCH_INTERVAL = timedelta(minutes=10)
USER_AGENT_MAX_CHARS = 255

__all__ = ["AuthState", "bearer_token", "hash_token", "utcnow"]


@dataclass
class AuthState:
    """The authenticated caller of one request or WebSocket: session, user, admin role."""

    session: Session
    user: User
    admin_role: AdminRole | None
    token: str
    # Set when the sliding expiry moved forward, so the cookie is re-issued with the token.
    refreshed_token: str | None = None


@dataclass(frozen=True)
class SessionLookup:
    """What a token resolves to, including why it no longer works."""

    session: Session | None
    user: User | None
    admin_role: AdminRole | None
    problem: str | None  # None, NO_SESSION, EXPIRED, REVOKED


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """32 random bytes, base64url: 43 characters."""
    return secrets.token_urlsafe(32)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def live_admin_role(user_id: str, now: datetime) -> AdminRole | None:
    return (
        AdminRole.select()
        .where(
            (AdminRole.user == user_id)
            & (AdminRole.expires_at.is_null() | (AdminRole.expires_at > now))
        )
        .first()
    )


@db_task
def lookup_token(token: str) -> SessionLookup:
    """Resolve a token to its session, user and live admin role (one query), reporting why it
    fails. Plain SQL: it runs for every authenticated request and WebSocket connect."""
    if not token or len(token) > 128:
        return SessionLookup(None, None, None, "NO_SESSION")
    now = utcnow()
    row = database.execute_sql(_lookup_sql(), (now, hash_token(token))).fetchone()
    if row is None:
        return SessionLookup(None, None, None, "NO_SESSION")
    split = field_count(Session)
    session = model_from_row(Session, row[:split])
    user = model_from_row(User, row[split:-1])
    session.user = user
    session._dirty.clear()
    if session.revoked_at is not None:
        return SessionLookup(session, user, None, "REVOKED")
    if session.expires_at <= now:
        return SessionLookup(session, user, None, "EXPIRED")
    admin_role_id = row[-1]
    admin_role = AdminRole.get_or_none(AdminRole.id == admin_role_id) if admin_role_id else None
    return SessionLookup(session, user, admin_role, None)


@functools.cache
def _lookup_sql_for(param: str) -> str:
    return (
        f"SELECT {column_list(Session, 's')}, {column_list(User, 'u')}, "
        f"(SELECT a.id FROM admin_roles a WHERE a.user_id = s.user_id "
        f"AND (a.expires_at IS NULL OR a.expires_at > {param}) LIMIT 1) "
        f"FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = {param}"
    )


def _lookup_sql() -> str:
    return _lookup_sql_for(database.param)


@db_transaction
def touch_session(session_id: str, user_id: str, ttl_days: int) -> datetime:
    """Slide the expiry forward (at most every 10 minutes); returns the new expiry."""
    now = utcnow()
    expires_at = now + timedelta(days=ttl_days)
    Session.update(last_seen_at=now, expires_at=expires_at).where(
        Session.id == session_id).execute()
    User.update(last_active_at=now).where(User.id == user_id).execute()
    return expires_at


def needs_touch(session: Session) -> bool:
    return utcnow() - session.last_seen_at >= SESSION_TOUCH_INTERVAL


def create_session_row(user_id: str, ip: str | None, user_agent: str | None,
                       ttl_days: int) -> tuple[str, Session, list[str]]:
    """Create a session inside the caller's @db_write; returns (token, session, evicted ids).

    When the user already has the maximum of live sessions, the least recently used ones are
    revoked (reason LIMIT) so the new one fits; their sockets close after commit.
    """
    now = utcnow()
    live = list(
        Session.select(Session.id)
        .where(_live(user_id, now))
        .order_by(Session.last_seen_at.asc(), Session.created_at.asc())
    )
    evicted = [s.id for s in live[: max(0, len(live) - MAX_LIVE_SESSIONS_PER_USER + 1)]]
    if evicted:
        Session.update(revoked_at=now, revoke_reason="LIMIT").where(
            Session.id.in_(evicted)).execute()
        sessions_revoked(evicted, "LIMIT")
    token = new_token()
    session = Session.create(
        id=new_id(),
        user=user_id,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=ttl_days),
        ip=(ip or None) and ip[:45],
        user_agent=(user_agent or None) and user_agent[:USER_AGENT_MAX_CHARS],
    )
    return token, session, evicted


@db_write
def revoke_session(session_id: str, reason: str) -> bool:
    updated = (
        Session.update(revoked_at=utcnow(), revoke_reason=reason)
        .where((Session.id == session_id) & Session.revoked_at.is_null())
        .execute()
    )
    if updated:
        sessions_revoked([session_id], reason)
    return bool(updated)


def revoke_user_sessions_now(user_id: str, reason: str,
                             keep_session_id: str | None = None) -> list[str]:
    """Revoke every live session of a user (inside the caller's @db_write); returns ids.
    Their sockets close after commit."""
    query = Session.select(Session.id).where(
        (Session.user == user_id) & Session.revoked_at.is_null())
    if keep_session_id is not None:
        query = query.where(Session.id != keep_session_id)
    ids = [s.id for s in query]
    if ids:
        Session.update(revoked_at=utcnow(), revoke_reason=reason).where(
            Session.id.in_(ids)).execute()
        sessions_revoked(ids, reason)
    return ids


revoke_user_sessions = db_write(revoke_user_sessions_now)

# Ids per query in revoked_among: well under SQLite's limit on bound parameters.
REVOKED_AMONG_BATCH = 500


@db_task
def revoked_among(session_ids: list[str]) -> dict[str, str]:
    """Which of these sessions are revoked: session id -> revoke reason. Primary-key probes
    only, so its cost follows the number of ids asked about, not the size of the table."""
    revoked: dict[str, str] = {}
    for start in range(0, len(session_ids), REVOKED_AMONG_BATCH):
        batch = session_ids[start:start + REVOKED_AMONG_BATCH]
        for row in Session.select(Session.id, Session.revoke_reason).where(
                Session.id.in_(batch) & Session.revoked_at.is_null(False)):
            revoked[row.id] = row.revoke_reason or "ADMIN"
    return revoked


@db_task
def list_live_sessions(user_id: str) -> list[Session]:
    now = utcnow()
    return list(
        Session.select()
        .where(_live(user_id, now))
        .order_by(Session.last_seen_at.desc(), Session.created_at.desc())
        .limit(MAX_LIVE_SESSIONS_PER_USER)
    )


@db_task
def find_live_session(user_id: str, session_id: str) -> Session | None:
    return (
        Session.select()
        .where((Session.id == session_id) & _live(user_id, utcnow()))
        .first()
    )


def _live(user_id: str, now: datetime) -> peewee.Expression:
    return (Session.user == user_id) & Session.revoked_at.is_null() & (Session.expires_at > now)
