"""Platform admin roles (COUP.md §3.5) as the CLI and the admin API grant and revoke them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from coup.errors import ApiError, NotFound
from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import AdminLog, AdminRole, User

ADMIN_ROLE_TYPES = ("VIEWER", "MODERATOR", "ADMIN", "SUPER_ADMIN")


def log_admin_action(admin_id: str, action: str, *, target_type: str | None = None,
                     target_id: str | None = None, metadata: dict[str, Any] | None = None,
                     before: Any = None, after: Any = None, reason: str | None = None) -> None:
    """Append an audit row inside the caller's transaction."""
    AdminLog.create(id=new_id(), admin=admin_id, action=action, target_type=target_type,
                    target_id=target_id, metadata=metadata, before=before, after=after,
                    reason=reason, created_at=utcnow())


@db_transaction
def bootstrap_super_admin(email: str, name: str, password_hash: str | None) -> tuple[str, bool]:
    """Create the user if missing and make them SUPER_ADMIN; returns (user id, changed)."""
    user = User.select().where(User.email == email).first()
    if user is not None and user.status == "DELETED":
        raise ApiError("ACCOUNT_DELETED")
    if user is None:
        now = utcnow()
        user = User.create(id=new_id(), email=email, name=name, password_hash=password_hash,
                           provider="CREDENTIALS", status="ACTIVE", restricted_actions=[],
                           created_at=now, updated_at=now)
    role = AdminRole.select().where(AdminRole.user == user.id).first()
    if role is not None and role.role == "SUPER_ADMIN" and role.expires_at is None:
        return user.id, False
    before = {"role": role.role} if role is not None else None
    AdminRole.delete().where(AdminRole.user == user.id).execute()
    AdminRole.create(id=new_id(), user=user.id, role="SUPER_ADMIN", granted_by=None,
                     granted_at=utcnow(), expires_at=None)
    log_admin_action(user.id, "ADMIN_ROLE_GRANT", target_type="AdminRole", target_id=user.id,
                     metadata={"via": "cli"}, before=before, after={"role": "SUPER_ADMIN"})
    return user.id, True


@db_transaction
def grant_role(email: str, role: str, expires_at: datetime | None,
               granted_by: str | None = None) -> str:
    user = User.select().where((User.email == email) & (User.status != "DELETED")).first()
    if user is None:
        raise NotFound(message=f"no active user with email {email}")
    AdminRole.delete().where(AdminRole.user == user.id).execute()
    AdminRole.create(id=new_id(), user=user.id, role=role, granted_by=granted_by,
                     granted_at=utcnow(), expires_at=expires_at)
    log_admin_action(granted_by or user.id, "ADMIN_ROLE_GRANT", target_type="AdminRole",
                     target_id=user.id, metadata={"via": "cli" if granted_by is None else "api"},
                     after={"role": role})
    return user.id


@db_transaction
def revoke_role(email: str, revoked_by: str | None = None) -> bool:
    user = User.select().where(User.email == email).first()
    if user is None:
        raise NotFound(message=f"no user with email {email}")
    removed = AdminRole.delete().where(AdminRole.user == user.id).execute()
    if removed:
        via = "cli" if revoked_by is None else "api"
        log_admin_action(revoked_by or user.id, "ADMIN_ROLE_REVOKE", target_type="AdminRole",
                         target_id=user.id, metadata={"via": via})
    return bool(removed)


@db_task
def list_roles() -> list[dict[str, Any]]:
    rows = AdminRole.select(AdminRole, User).join(User).order_by(AdminRole.granted_at)
    return [{"email": r.user.email, "name": r.user.name, "role": r.role,
             "granted_at": r.granted_at, "expires_at": r.expires_at} for r in rows]
