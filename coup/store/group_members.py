"""Group membership and invites (COUP.md §7.16): join, leave, members, roles, removal, invites.

Every write locks the group row first (PostgreSQL; SQLite's one writer already serialises
them), so capacity, the single OWNER and single-use invite codes hold under concurrent
requests. An invite's `email` is shown only to its inviter (§1 item 11, §6 GroupInvite).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from coup.errors import ApiError, Conflict, Forbidden, NotFound
from coup.jsonutil import iso
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import db_task, db_transaction
from coup.store.fields import utcnow
from coup.store.groups import (
    ROLE_RANK,
    access_group,
    find_live_group,
    group_member_view,
    load_member_view,
    member_order,
    members_with_users,
    membership_of,
    refuse_if_full,
)
from coup.store.models import GroupInvite, GroupMember, User
from coup.store.views import user_summary

INVITE_CODE_ALPHABET = string.ascii_uppercase + string.digits
INVITE_CODE_LENGTH = 12


@dataclass(frozen=True)
class JoinOutcome:
    """A join's result: the new member, or INVITE_EXPIRED once the code's expiry is saved."""

    member: dict[str, Any] | None = None
    expired: bool = False


# --- shared pieces ----------------------------------------------------------------------------


def _refuse_existing(row: GroupMember | None) -> None:
    if row is not None and row.status == "KICKED":
        raise ApiError("KICKED_MEMBER", message="This user was removed from the group.")
    if row is not None and row.status == "ACTIVE":
        raise ApiError("ALREADY_MEMBER", message="Already a member of this group.")


def _activate(row: GroupMember | None, group_id: str, user_id: str, role: str,
              now: datetime) -> None:
    """Make the user an ACTIVE member: a LEFT row is reused, otherwise a row is created."""
    if row is None:
        GroupMember.create(group=group_id, user=user_id, role=role, status="ACTIVE",
                           joined_at=now)
    else:
        GroupMember.update(role=role, status="ACTIVE", joined_at=now, left_at=None).where(
            GroupMember.id == row.id).execute()


def _live_user(user_id: str) -> User:
    user = User.select().where((User.id == user_id) & (User.status == "ACTIVE")).first()
    if user is None:
        raise NotFound(message="No such user.")
    return user


def expire_invites_now(now: datetime, group_id: str | None = None) -> int:
    """Mark PENDING invites past `expires_at` as EXPIRED (one group, or all); returns how many."""
    query = GroupInvite.update(status="EXPIRED").where(
        (GroupInvite.status == "PENDING") & GroupInvite.expires_at.is_null(False)
        & (GroupInvite.expires_at <= now))
    if group_id is not None:
        query = query.where(GroupInvite.group == group_id)
    return query.execute()


# --- join and leave ---------------------------------------------------------------------------


@db_transaction
def _join(group_id: str, user_id: str, code: str | None) -> JoinOutcome:
    """The §7.16 join checks, in their order; see join_group."""
    now = utcnow()
    group = find_live_group(group_id, lock=True)
    if group is None:
        raise NotFound()
    row = membership_of(group_id, user_id)
    visible = group.is_public or (row is not None and row.status == "ACTIVE")
    invite = None
    if code is not None:
        invite = GroupInvite.select().where(GroupInvite.code == code).first()
        if invite is None or invite.group_id != group_id:
            # A private group is only revealed by one of its own codes.
            raise NotFound() if not visible else ApiError("INVITE_NOT_FOUND")
        email = User.select(User.email).where(User.id == user_id).get().email
        if (invite.invited_user_id not in (None, user_id)
                or invite.email not in (None, email)):
            raise ApiError("INVITE_NOT_FOUND")
        if invite.status == "EXPIRED":
            return JoinOutcome(expired=True)
        if invite.status != "PENDING":
            raise ApiError("INVITE_NOT_FOUND")
        if invite.expires_at is not None and invite.expires_at <= now:
            GroupInvite.update(status="EXPIRED").where(GroupInvite.id == invite.id).execute()
            return JoinOutcome(expired=True)
    elif not visible:
        raise NotFound()
    _refuse_existing(row)
    if invite is None and not group.is_recruiting:
        raise ApiError("NOT_RECRUITING", message="This group is not recruiting.")
    refuse_if_full(group)
    _activate(row, group_id, user_id, "MEMBER", now)
    if invite is not None:
        GroupInvite.update(status="ACCEPTED", used_at=now, used_by=user_id).where(
            GroupInvite.id == invite.id).execute()
    return JoinOutcome(member=load_member_view(group_id, user_id))


async def join_group(group_id: str, user_id: str, code: str | None) -> dict[str, Any]:
    """POST /api/groups/{id}/join. An expired code's new status is committed before the
    INVITE_EXPIRED answer, so the refusal does not roll it back."""
    outcome = await _join(group_id, user_id, code)
    if outcome.expired or outcome.member is None:
        raise ApiError("INVITE_EXPIRED")
    return outcome.member


@db_transaction
def leave_group(group_id: str, user_id: str) -> None:
    """The OWNER may leave only when another ACTIVE ADMIN exists; the longest-serving one
    becomes OWNER and the leaver's row drops to MEMBER (one OWNER row per group)."""
    access = access_group(group_id, user_id, "MEMBER", lock=True)
    assert access.membership is not None
    if access.role == "OWNER":
        successor = (GroupMember.select()
                     .where((GroupMember.group == group_id) & (GroupMember.status == "ACTIVE")
                            & (GroupMember.role == "ADMIN") & (GroupMember.user != user_id))
                     .order_by(GroupMember.joined_at, GroupMember.id).first())
        if successor is None:
            raise ApiError("OWNER_CANNOT_LEAVE",
                           message="Make another member ADMIN before leaving, or delete the "
                                   "group.")
        GroupMember.update(role="OWNER").where(GroupMember.id == successor.id).execute()
    GroupMember.update(status="LEFT", left_at=utcnow(),
                       role="MEMBER" if access.role == "OWNER" else access.role).where(
        GroupMember.id == access.membership.id).execute()


# --- members ----------------------------------------------------------------------------------


@db_task
def list_members(group_id: str, viewer_id: str, status: str,
                 page: PageRequest) -> Page[dict[str, Any]]:
    """Members with `status`; statuses other than ACTIVE are for group ADMIN+ only."""
    access = access_group(group_id, viewer_id)
    if status != "ACTIVE" and not access.is_admin:
        raise Forbidden(message="Only the group's OWNER and ADMINs can list that status.")
    query = (members_with_users()
             .where((GroupMember.group == group_id) & (GroupMember.status == status))
             .order_by(*member_order()))
    found = paginate(query, page)
    return Page([group_member_view(row, row.user) for row in found.items], found.total)


@db_transaction
def add_member(group_id: str, actor_id: str, user_id: str, role: str) -> dict[str, Any]:
    """POST …/members (group ADMIN+); adding an ADMIN needs the OWNER."""
    access = access_group(group_id, actor_id, "ADMIN", lock=True)
    if role == "ADMIN" and access.role != "OWNER":
        raise ApiError("ROLE_HIERARCHY", message="Only the OWNER can add ADMINs.")
    _live_user(user_id)
    row = membership_of(group_id, user_id)
    _refuse_existing(row)
    refuse_if_full(access.group)
    _activate(row, group_id, user_id, role, utcnow())
    return load_member_view(group_id, user_id)


@db_transaction
def change_role(group_id: str, actor_id: str, user_id: str, role: str) -> dict[str, Any]:
    """PATCH …/members/{user_id} (group OWNER): MEMBER ↔ ADMIN; OWNER is never given or taken."""
    access_group(group_id, actor_id, "OWNER", lock=True)
    row = membership_of(group_id, user_id)
    if row is None or row.status != "ACTIVE":
        raise NotFound()
    if role == "OWNER" or row.role == "OWNER":
        raise ApiError("OWNER_ROLE_LOCKED",
                       message="The OWNER role passes only when the OWNER leaves.")
    GroupMember.update(role=role).where(GroupMember.id == row.id).execute()
    return load_member_view(group_id, user_id)


@db_transaction
def remove_member(group_id: str, actor_id: str, user_id: str, kick: bool) -> None:
    """DELETE …/members (group ADMIN+): KICKED (final) with `kick`, otherwise LEFT."""
    access = access_group(group_id, actor_id, "ADMIN", lock=True)
    if user_id == actor_id:
        raise ApiError("CANNOT_KICK_SELF", message="Use leave to leave the group.")
    row = membership_of(group_id, user_id)
    if row is None or row.status != "ACTIVE":
        raise NotFound()
    if row.role == "OWNER":
        raise ApiError("CANNOT_KICK_OWNER", message="The group's OWNER cannot be removed.")
    if ROLE_RANK[access.role or "MEMBER"] >= ROLE_RANK[row.role]:
        raise ApiError("ROLE_HIERARCHY", message="Only the OWNER can remove ADMINs.")
    GroupMember.update(status="KICKED" if kick else "LEFT", left_at=utcnow()).where(
        GroupMember.id == row.id).execute()


# --- invites ----------------------------------------------------------------------------------


def invite_views(invites: Sequence[GroupInvite], viewer_id: str) -> list[dict[str, Any]]:
    """GroupInvite views with their users loaded in one query; `email` for the inviter only."""
    ids = {user_id for invite in invites
           for user_id in (invite.invited_by_id, invite.invited_user_id, invite.used_by_id)
           if user_id is not None}
    users = {user.id: user for user in User.select().where(User.id.in_(list(ids)))}
    return [{
        "id": invite.id,
        "group_id": invite.group_id,
        "code": invite.code,
        "status": invite.status,
        "email": invite.email if invite.invited_by_id == viewer_id else None,
        "invited_user": user_summary(users.get(invite.invited_user_id)),
        "invited_by": user_summary(users.get(invite.invited_by_id)),
        "expires_at": iso(invite.expires_at),
        "used_at": iso(invite.used_at),
        "used_by": user_summary(users.get(invite.used_by_id)),
        "created_at": iso(invite.created_at),
    } for invite in invites]


@db_transaction
def list_invites(group_id: str, viewer_id: str, status: str | None,
                 page: PageRequest) -> Page[dict[str, Any]]:
    """GET …/invites (group ADMIN+), newest first; lapsed PENDING invites are marked first, so
    the status filter and the view agree with the clock rather than the hourly job."""
    access_group(group_id, viewer_id, "ADMIN")
    expire_invites_now(utcnow(), group_id)
    query = GroupInvite.select().where(GroupInvite.group == group_id)
    if status is not None:
        query = query.where(GroupInvite.status == status)
    found = paginate(query.order_by(GroupInvite.created_at.desc(), GroupInvite.id.desc()), page)
    return Page(invite_views(found.items, viewer_id), found.total)


def _new_code() -> str:
    while True:
        code = "".join(secrets.choice(INVITE_CODE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))
        # 36^12 codes make a clash all but impossible; checking keeps the insert from failing.
        if not GroupInvite.select().where(GroupInvite.code == code).exists():
            return code


@db_transaction
def create_invite(group_id: str, actor_id: str, user_id: str | None, email: str | None,
                  expires_in_days: int) -> dict[str, Any]:
    """POST …/invites (group ADMIN+): for a user, an email address, or anyone with the code."""
    access = access_group(group_id, actor_id, "ADMIN", lock=True)
    target: User | None = None
    if user_id is not None:
        target = _live_user(user_id)
    elif email is not None:
        target = User.select().where(User.email == email).first()
    if target is not None:
        _refuse_existing(membership_of(group_id, target.id))
    refuse_if_full(access.group)
    now = utcnow()
    invite = GroupInvite.create(group=group_id, invited_by=actor_id, invited_user=user_id,
                                email=email, code=_new_code(), status="PENDING",
                                created_at=now, expires_at=now + timedelta(days=expires_in_days))
    return invite_views([invite], actor_id)[0]


@db_transaction
def cancel_invite(group_id: str, actor_id: str, invite_id: str) -> None:
    """DELETE …/invites (the inviter, or group ADMIN+): only a PENDING invite is cancelled."""
    access_group(group_id, actor_id)
    invite = GroupInvite.select().where((GroupInvite.id == invite_id)
                                        & (GroupInvite.group == group_id)).first()
    if invite is None:
        raise NotFound()
    if invite.invited_by_id != actor_id:
        access_group(group_id, actor_id, "ADMIN")
    if invite.status != "PENDING":
        raise Conflict(message=f"The invite is {invite.status}, not PENDING.")
    GroupInvite.update(status="CANCELLED").where(GroupInvite.id == invite.id).execute()
