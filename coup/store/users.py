"""Users and profile (COUP.md §7.2): search, profiles, profile and password changes, deletion.

Every function runs on a database worker and returns plain views or small dataclasses, so no
lazy foreign-key load can happen on the event loop. Files (uploaded avatars) are the handler's
business: these functions only say which avatar a change replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import peewee
from peewee import fn

from coup import localtime
from coup.errors import ApiError, NotFound
from coup.jsonutil import iso
from coup.localtime import utcnow
from coup.pagination import Page, PageRequest, paginate
from coup.store import views
from coup.store.accounts import me_view
from coup.store.db import db_task, db_transaction, is_postgres
from coup.store.events import db_write
from coup.store.membership import leave_all_memberships_now
from coup.store.models import (
    AdminRole,
    Attendance,
    BaseModel,
    File,
    GroupInvite,
    GroupMember,
    Message,
    Notice,
    Notification,
    OAuthAccount,
    Study,
    StudyMember,
    Task,
    User,
)
from coup.store.models import Group as CommunityGroup
from coup.store.rows import selected
from coup.store.sessions import revoke_user_sessions_now

# A public profile lists at most this many of the user's studies.
RECENT_STUDIES_LIMIT = 6
# Attendance rate looks back this many days, today included (COUP.md §7.2 stats).
ATTENDANCE_WINDOW_DAYS = 30
# Studies that still need their owner: deleting the account is refused while any exists.
OWNED_STUDY_BLOCKING_STATUSES = ("ACTIVE", "CLOSED")
# What views.user_profile reads; public views never load hashes or emails.
PROFILE_COLUMNS = (User.id, User.name, User.avatar, User.bio, User.status, User.created_at)


@dataclass(frozen=True)
class Credentials:
    """What a password check needs: the account's email and bcrypt hash (None: no password)."""

    email: str
    password_hash: str | None


@dataclass(frozen=True)
class ProfileChange:
    """The updated account and the avatar the change replaced (None when it kept it)."""

    me: dict[str, Any]
    replaced_avatar: str | None


@dataclass(frozen=True)
class DeletedAccount:
    """What is left to do after a deletion commits: the avatar file. (The revoked sessions'
    sockets close with the write's effects.)"""

    avatar: str | None
    revoked_session_ids: list[str]


# --- shared query pieces ----------------------------------------------------------------------


def _count(model: type[BaseModel], *conditions: Any) -> peewee.Select:
    return model.select(fn.COUNT(model.id)).where(*conditions)


def _active_membership_count(user: Any) -> peewee.Select:
    """ACTIVE memberships of `user` (an id or the outer User.id) in studies not deleted."""
    return (StudyMember.select(fn.COUNT(StudyMember.id)).join(Study)
            .where(StudyMember.user == user, StudyMember.status == "ACTIVE",
                   Study.status != "DELETED"))


def _lock_user(user_id: str) -> User:
    """The user row, locked until commit on PostgreSQL (SQLite already serialises writers)."""
    query = User.select().where(User.id == user_id)
    if is_postgres():
        query = query.for_update()
    user = query.first()
    if user is None:
        raise NotFound()
    return user


# --- reads ------------------------------------------------------------------------------------


@db_task
def search_users(q: str | None, page: PageRequest) -> Page[dict[str, Any]]:
    """ACTIVE users whose name contains `q` or whose email is `q`, newest first."""
    query = (User.select(*PROFILE_COLUMNS, _active_membership_count(User.id).alias("study_count"))
             .where(User.status == "ACTIVE")
             .order_by(User.created_at.desc(), User.id.desc()))
    if q:
        query = query.where(User.name.contains(q) | (User.email == q.lower()))
    found = paginate(query, page)
    return Page([{**views.user_profile(u), "study_count": selected(u, "study_count")}
                 for u in found.items],
                found.total)


@db_task
def load_public_profile(user_id: str) -> dict[str, Any]:
    """An ACTIVE user's public profile with stats and recent studies; NOT_FOUND otherwise."""
    user = (User.select(
        *PROFILE_COLUMNS,
        _active_membership_count(User.id).alias("study_count"),
        _count(Task, Task.user == User.id).alias("task_count"),
        _count(Message, Message.user == User.id, Message.deleted_at.is_null())
        .alias("message_count"),
        _count(Notice, Notice.author == User.id).alias("notice_count"),
    ).where(User.id == user_id, User.status == "ACTIVE").first())
    if user is None:
        raise NotFound()
    recent = (StudyMember.select(StudyMember, Study).join(Study)
              .where(StudyMember.user == user_id, StudyMember.status == "ACTIVE",
                     Study.is_public, ~Study.is_hidden, Study.status != "DELETED")
              .order_by(fn.COALESCE(StudyMember.joined_at, StudyMember.created_at).desc(),
                        StudyMember.id)
              .limit(RECENT_STUDIES_LIMIT))
    return {
        **views.user_profile(user),
        "stats": {"study_count": selected(user, "study_count"),
                  "task_count": selected(user, "task_count"),
                  "message_count": selected(user, "message_count"),
                  "notice_count": selected(user, "notice_count")},
        "recent_studies": [
            {"study_id": m.study.id, "study_name": m.study.name, "study_emoji": m.study.emoji,
             "category": m.study.category, "role": m.role, "joined_at": iso(m.joined_at)}
            for m in recent
        ],
    }


@db_task
def load_own_profile(user_id: str) -> dict[str, Any]:
    user = User.select(
        User,
        _active_membership_count(User.id).alias("study_count"),
        _count(Task, Task.user == User.id, ~Task.completed).alias("task_count"),
        _count(Notification, Notification.user == User.id, ~Notification.is_read)
        .alias("unread_notifications"),
    ).where(User.id == user_id).get()
    return {
        "user": me_view(user),
        "stats": {"study_count": selected(user, "study_count"),
                  "task_count": selected(user, "task_count"),
                  "unread_notifications": selected(user, "unread_notifications")},
        "restrictions": views.restrictions(user, utcnow()),
    }


@db_task
def load_credentials(user_id: str) -> Credentials:
    user = User.select(User.email, User.password_hash).where(User.id == user_id).get()
    return Credentials(user.email, user.password_hash)


# --- profile changes --------------------------------------------------------------------------


@db_transaction
def update_profile(user_id: str, changes: dict[str, Any]) -> ProfileChange:
    """Apply `changes` (name, bio, avatar); reports the avatar it replaced, if any."""
    previous = _lock_user(user_id).avatar
    if changes:
        User.update(**changes).where(User.id == user_id).execute()
    user = User.get_by_id(user_id)
    replaced = previous if "avatar" in changes and previous != user.avatar else None
    return ProfileChange(me_view(user), replaced)


@db_transaction
def clear_avatar(user_id: str) -> ProfileChange:
    """Remove the avatar; NOT_FOUND when there is none."""
    previous = _lock_user(user_id).avatar
    if previous is None:
        raise NotFound(message="There is no avatar to remove.")
    User.update(avatar=None).where(User.id == user_id).execute()
    return ProfileChange(me_view(User.get_by_id(user_id)), previous)


@db_write
def change_password(user_id: str, new_hash: str, *, expected_hash: str | None,
                    keep_session_id: str) -> list[str]:
    """Store the new hash and revoke every other session; returns the revoked ids.

    `expected_hash` is the hash the caller verified against: if another request changed the
    password in the meantime, the check the caller made no longer holds.
    """
    if _lock_user(user_id).password_hash != expected_hash:
        raise ApiError("WRONG_PASSWORD", fields={"current_password": "is not correct"})
    User.update(password_hash=new_hash).where(User.id == user_id).execute()
    return revoke_user_sessions_now(user_id, "PASSWORD_CHANGED", keep_session_id)


# --- account deletion -------------------------------------------------------------------------


@db_write
def delete_account(user_id: str) -> DeletedAccount:
    """COUP.md §7.2 DELETE /api/users/me, steps 1-5 and the revocation of step 6."""
    user = _lock_user(user_id)
    owned = list(Study.select(Study.id, Study.name)
                 .where(Study.owner == user_id,
                        Study.status.in_(OWNED_STUDY_BLOCKING_STATUSES))
                 .order_by(Study.created_at))
    if owned:
        raise ApiError("OWNS_STUDIES",
                       details={"studies": [{"id": s.id, "name": s.name} for s in owned]})
    now = utcnow()
    User.update(
        status="DELETED", deleted_at=now, email=f"deleted+{user_id}@deleted.invalid",
        name=views.DELETED_USER_NAME, bio=None, avatar=None, password_hash=None,
        dashboard_widgets=None, restricted_actions=[], restricted_until=None,
    ).where(User.id == user_id).execute()
    OAuthAccount.delete().where(OAuthAccount.user == user_id).execute()
    AdminRole.delete().where(AdminRole.user == user_id).execute()
    leave_all_memberships_now(user_id)
    _leave_groups(user_id, user.email, now)
    Notification.delete().where(Notification.user == user_id).execute()
    Task.delete().where(Task.user == user_id).execute()
    revoked = revoke_user_sessions_now(user_id, "DELETED")
    return DeletedAccount(user.avatar, revoked)


def _leave_groups(user_id: str, old_email: str, now: datetime) -> None:
    """Step 4: leave every group; empty groups are soft-deleted, owned ones handed over."""
    memberships = list(GroupMember.select(GroupMember, CommunityGroup).join(CommunityGroup)
                       .where(GroupMember.user == user_id, GroupMember.status == "ACTIVE"))
    for membership in memberships:
        if membership.group.deleted_at is not None:
            continue
        group_id = membership.group.id
        successor = _group_successor(group_id, user_id)
        if successor is None:
            CommunityGroup.update(deleted_at=now).where(CommunityGroup.id == group_id).execute()
            GroupInvite.update(status="CANCELLED").where(
                GroupInvite.group == group_id, GroupInvite.status == "PENDING").execute()
        elif membership.role == "OWNER":
            GroupMember.update(role="OWNER").where(GroupMember.id == successor.id).execute()
            # One OWNER row per group, also among LEFT rows.
            GroupMember.update(role="MEMBER").where(GroupMember.id == membership.id).execute()
    GroupMember.update(status="LEFT", left_at=now).where(
        GroupMember.user == user_id, GroupMember.status == "ACTIVE").execute()
    GroupInvite.update(status="CANCELLED").where(
        GroupInvite.status == "PENDING",
        (GroupInvite.invited_user == user_id) | (GroupInvite.email == old_email)).execute()


def _group_successor(group_id: str, user_id: str) -> GroupMember | None:
    """The longest-serving other ACTIVE ADMIN, else MEMBER; None when nobody else is ACTIVE."""
    rank = peewee.Case(GroupMember.role, (("ADMIN", 0),), 1)
    return (GroupMember.select()
            .where(GroupMember.group == group_id, GroupMember.user != user_id,
                   GroupMember.status == "ACTIVE")
            .order_by(rank, GroupMember.joined_at, GroupMember.id)
            .first())


# --- own statistics ---------------------------------------------------------------------------


@db_task
def load_my_stats(user_id: str, tz: tzinfo) -> dict[str, Any]:
    """GET /api/users/me/stats: this week's activity and the totals."""
    now = utcnow()
    today = localtime.local_date(now, tz)
    week_start = localtime.day_start_utc(today - timedelta(days=today.weekday()), tz)
    user = User.select(
        User.id, User.created_at,
        _count(Task, Task.user == User.id, Task.completed, Task.completed_at >= week_start)
        .alias("week_tasks"),
        _count(Notice, Notice.author == User.id, Notice.created_at >= week_start)
        .alias("week_notices"),
        _count(File, File.uploader == User.id, File.created_at >= week_start)
        .alias("week_files"),
        _count(Message, Message.user == User.id, Message.deleted_at.is_null(),
               Message.created_at >= week_start).alias("week_messages"),
        _count(Task, Task.user == User.id, Task.completed).alias("completed_tasks"),
    ).where(User.id == user_id).get()
    # objects(): the study's status lands on the membership row, with no Study instance.
    memberships = list(StudyMember.select(StudyMember.study, StudyMember.role,
                                          StudyMember.joined_at, StudyMember.created_at,
                                          Study.status.alias("study_status"))
                       .join(Study)
                       .where(StudyMember.user == user_id, StudyMember.status == "ACTIVE",
                              Study.status != "DELETED")
                       .objects())
    return {
        "this_week": {"completed_tasks": selected(user, "week_tasks"),
                      "created_notices": selected(user, "week_notices"),
                      "uploaded_files": selected(user, "week_files"),
                      "chat_messages": selected(user, "week_messages")},
        "total": {
            "study_count": len(memberships),
            "managing_studies": sum(m.role in ("OWNER", "ADMIN") for m in memberships),
            "completed_tasks": selected(user, "completed_tasks"),
            "attendance_rate": _attendance_rate(
                user_id, [m for m in memberships if selected(m, "study_status") == "ACTIVE"],
                today, tz),
            "best_current_streak": _best_current_streak(
                user_id, [m.study_id for m in memberships], today),
            "joined_days": max(0, (now - user.created_at).days),
        },
    }


def _attendance_rate(user_id: str, memberships: list[StudyMember], today: date,
                     tz: tzinfo) -> int:
    """Mean over the studies of days checked in ÷ eligible days in the window, as 0-100."""
    if not memberships:
        return 0
    window_start = today - timedelta(days=ATTENDANCE_WINDOW_DAYS - 1)
    starts = {m.study_id: max(window_start, localtime.local_date(m.joined_at or m.created_at, tz))
              for m in memberships}
    checked: dict[str, int] = dict.fromkeys(starts, 0)
    for row in Attendance.select(Attendance.study, Attendance.date).where(
            Attendance.user == user_id, Attendance.study.in_(list(starts)),
            Attendance.date >= window_start, Attendance.date <= today):
        if row.date >= starts[row.study_id]:
            checked[row.study_id] += 1
    rates = [min(1.0, checked[sid] / ((today - start).days + 1)) for sid, start in starts.items()]
    # Half up, not Python's half-to-even: 62.5 % shows as 63.
    return int(100 * sum(rates) / len(rates) + 0.5)


def _best_current_streak(user_id: str, study_ids: Iterable[str], today: date) -> int:
    """Highest current streak: today's if checked in today, else yesterday's, else 0."""
    study_ids = list(study_ids)
    if not study_ids:
        return 0
    yesterday = today - timedelta(days=1)
    current: dict[str, tuple[date, int]] = {}
    for row in Attendance.select(Attendance.study, Attendance.date, Attendance.streak).where(
            Attendance.user == user_id, Attendance.study.in_(study_ids),
            Attendance.date.in_([today, yesterday])):
        best = current.get(row.study_id)
        if best is None or row.date > best[0]:
            current[row.study_id] = (row.date, row.streak)
    return max((streak for _, streak in current.values()), default=0)
