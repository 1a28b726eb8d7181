"""Common objects of COUP.md §6 built from model rows.

These functions never query: the store loads what they need (in one query where it can) on a
worker thread and hands rows in, so no lazy foreign-key load ever runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, overload

from coup.jsonutil import iso
from coup.store.models import AdminRole, User

DELETED_USER_NAME = "[탈퇴한 사용자]"

# Platform-admin permissions by role (COUP.md §3.5); each role adds to the one below it.
_VIEWER = ("user:view", "user:search", "study:view", "report:view", "content:view",
           "analytics:view")
_MODERATOR = _VIEWER + ("user:warn", "report:assign", "report:process", "report:resolve",
                        "report:reject", "content:delete", "study:hide")
_ADMIN = _MODERATOR + ("user:suspend", "user:unsuspend", "user:update", "user:delete",
                       "user:restore", "study:close", "study:delete", "study:recommend",
                       "study:update", "content:restore", "settings:view", "audit:view")
_SUPER_ADMIN = _ADMIN + ("settings:update", "analytics:export", "audit:export", "admin:manage",
                         "admin:grant_role")
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "VIEWER": _VIEWER, "MODERATOR": _MODERATOR, "ADMIN": _ADMIN, "SUPER_ADMIN": _SUPER_ADMIN,
}


@overload
def user_summary(user: User) -> dict[str, Any]: ...
@overload
def user_summary(user: User | None) -> dict[str, Any] | None: ...
def user_summary(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    if user.status == "DELETED":
        return {"id": user.id, "name": DELETED_USER_NAME, "avatar": None}
    return {"id": user.id, "name": user.name, "avatar": user.avatar}


def user_profile(user: User) -> dict[str, Any]:
    return {**user_summary(user), "bio": user.bio, "created_at": iso(user.created_at)}


def me(user: User, linked_providers: Iterable[str]) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "avatar": user.avatar,
        "bio": user.bio,
        "provider": user.provider,
        "has_password": user.password_hash is not None,
        "linked_providers": sorted(linked_providers),
        "status": user.status,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
        "last_login_at": iso(user.last_login_at),
    }


def restrictions(user: User, now: datetime) -> dict[str, Any] | None:
    """The restriction in force, or None (COUP.md §3.3)."""
    actions = list(user.restricted_actions or [])
    if not actions or user.restricted_until is None or user.restricted_until <= now:
        return None
    return {"actions": actions, "until": iso(user.restricted_until)}


def admin_role(role: AdminRole | None, *, with_permissions: bool = False) -> dict[str, Any] | None:
    if role is None:
        return None
    view: dict[str, Any] = {"role": role.role}
    if with_permissions:
        view["permissions"] = list(ROLE_PERMISSIONS.get(role.role, ()))
    view["expires_at"] = iso(role.expires_at)
    return view
