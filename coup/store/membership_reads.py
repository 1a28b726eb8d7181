"""Membership reads (COUP.md §7.5, §7.6): member lists, join requests, my studies.

Each page is built in a fixed number of queries whatever its size: rows with their users in
one query, then one grouped query per extra column (other studies, counts, counters).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import peewee
from peewee import JOIN, Case, fn

from coup.errors import Forbidden
from coup.jsonutil import iso
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import db_task
from coup.store.fields import utcnow
from coup.store.models import Message, Notice, Study, StudyMember, StudyReadCursor, User
from coup.store.rows import dict_rows, tuple_rows
from coup.store.study_access import (
    ST_ADMIN_ROLES,
    access_study,
    active_counts,
    member_view,
    study_summary,
)

# JoinRequest.other_studies lists at most this many studies (§6).
OTHER_STUDIES_LIMIT = 5
# My-studies counters (§7.6): messages of the last day, notices of the last week.
NEW_MESSAGES_WINDOW = timedelta(hours=24)
NEW_NOTICES_WINDOW = timedelta(days=7)
MY_STUDIES_STATUSES: dict[str, tuple[str, ...]] = {
    "all": ("ACTIVE", "PENDING"), "active": ("ACTIVE",), "admin": ("ACTIVE",),
    "pending": ("PENDING",),
}

# OWNER, then ADMIN, then MEMBER (§7.5 member list order).
ROLE_RANK = Case(StudyMember.role, (("OWNER", 0), ("ADMIN", 1)), 2)


def _members_with_users() -> Any:
    return StudyMember.select(StudyMember, User).join(
        User, JOIN.INNER, on=(StudyMember.user == User.id))


# --- members ----------------------------------------------------------------------------------


@db_task
def list_members(study_id: str, viewer_id: str, *, role: str | None, status: str,
                 page: PageRequest) -> Page[dict[str, Any]]:
    """GET /api/studies/{id}/members: statuses other than ACTIVE are for ST-ADMINs only."""
    access = access_study(study_id, viewer_id)
    if status != "ACTIVE" and not access.is_st_admin:
        raise Forbidden(message="Only the study's OWNER and ADMINs can list that status.")
    query = _members_with_users().where((StudyMember.study == study_id)
                                        & (StudyMember.status == status))
    if role is not None:
        query = query.where(StudyMember.role == role)
    # PENDING rows have no joined_at yet; they sort by when they applied.
    since = fn.COALESCE(StudyMember.joined_at, StudyMember.applied_at, StudyMember.created_at)
    query = query.order_by(ROLE_RANK, since.asc(), StudyMember.id)
    found = paginate(query, page)
    return Page([member_view(row, row.user) for row in found.items], found.total)


# --- join requests ----------------------------------------------------------------------------


@db_task
def list_join_requests(study_id: str, viewer_id: str,
                       page: PageRequest) -> Page[dict[str, Any]]:
    """GET …/join-requests: PENDING rows, newest first, with the applicants' emails (§1 item
    11 allows them here, to the study's OWNER and ADMINs only)."""
    access_study(study_id, viewer_id, "ST_ADMIN")
    query = (_members_with_users()
             .where((StudyMember.study == study_id) & (StudyMember.status == "PENDING"))
             .order_by(StudyMember.applied_at.desc(), StudyMember.id))
    found = paginate(query, page)
    others = other_public_studies([row.user_id for row in found.items])
    return Page([_join_request_view(row, others.get(row.user_id, [])) for row in found.items],
                found.total)


def _join_request_view(row: StudyMember, other_studies: list[dict[str, Any]]) -> dict[str, Any]:
    user = row.user
    return {
        "user": {"id": user.id, "name": user.name, "email": user.email, "avatar": user.avatar,
                 "bio": user.bio},
        "introduction": row.introduction,
        "motivation": row.motivation,
        "level": row.level,
        "applied_at": iso(row.applied_at),
        "other_studies": other_studies,
    }


def other_public_studies(user_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Up to 5 public, visible studies each user is ACTIVE in, most recently joined first.

    One query for every applicant of the page: a window function ranks each user's studies
    and the outer query keeps the first five, so a user in hundreds of studies costs 5 rows.
    """
    if not user_ids:
        return {}
    rank = fn.ROW_NUMBER().over(partition_by=[StudyMember.user],
                                order_by=[StudyMember.joined_at.desc(), Study.id])
    ranked = (StudyMember
              .select(StudyMember.user.alias("member_id"), Study.id.alias("study_id"),
                      Study.name.alias("name"), Study.emoji.alias("emoji"),
                      Study.category.alias("category"), rank.alias("position"))
              .join(Study, JOIN.INNER, on=(StudyMember.study == Study.id))
              .where(StudyMember.user.in_(list(user_ids)) & (StudyMember.status == "ACTIVE")
                     & Study.is_public & ~Study.is_hidden & (Study.status != "DELETED"))
              .alias("ranked"))
    rows = dict_rows(StudyMember
                     .select(ranked.c.member_id, ranked.c.study_id, ranked.c.name,
                             ranked.c.emoji, ranked.c.category)
                     .from_(ranked)
                     .where(ranked.c.position <= OTHER_STUDIES_LIMIT)
                     .order_by(ranked.c.member_id, ranked.c.position))
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row["member_id"], []).append({
            "id": row["study_id"], "name": row["name"], "emoji": row["emoji"],
            "category": row["category"]})
    return found


# --- my studies -------------------------------------------------------------------------------


@db_task
def list_my_studies(user_id: str, study_filter: str,
                    page: PageRequest) -> Page[dict[str, Any]]:
    """GET /api/my-studies: 7 queries for any page size (count, page, owners, member counts and
    the three counters); KICKED and LEFT rows and DELETED studies never appear."""
    query = (StudyMember.select(StudyMember, Study)
             .join(Study, JOIN.INNER, on=(StudyMember.study == Study.id))
             .where((StudyMember.user == user_id)
                    & StudyMember.status.in_(MY_STUDIES_STATUSES[study_filter])
                    & (Study.status != "DELETED")))
    if study_filter == "admin":
        query = query.where(StudyMember.role.in_(ST_ADMIN_ROLES))
    pending_first = Case(StudyMember.status, (("PENDING", 0),), 1)
    latest = fn.COALESCE(
        Case(StudyMember.status, (("PENDING", StudyMember.applied_at),), StudyMember.joined_at),
        StudyMember.created_at)
    query = query.order_by(pending_first, latest.desc(), StudyMember.id)
    found = paginate(query, page)
    rows: list[StudyMember] = found.items
    studies = [row.study for row in rows]
    owners = {u.id: u for u in User.select().where(User.id.in_({s.owner_id for s in studies}))}
    counts = active_counts(s.id for s in studies)
    counters = _activity_counters(user_id, [r.study_id for r in rows if r.status == "ACTIVE"])
    items = []
    for row in rows:
        study = row.study
        summary = study_summary(study, owners[study.owner_id], counts.get(study.id, 0), row)
        mine = counters.get(study.id) if row.status == "ACTIVE" else None
        summary.update({
            "is_hidden": study.is_hidden,
            "new_messages": mine["new_messages"] if mine else None,
            "new_notices": mine["new_notices"] if mine else None,
            "unread_messages": mine["unread_messages"] if mine else None,
            "last_seq": study.last_seq,
        })
        items.append({
            "membership_id": row.id, "role": row.role, "status": row.status,
            "applied_at": iso(row.applied_at), "joined_at": iso(row.joined_at),
            "approved_at": iso(row.approved_at), "study": summary,
        })
    return Page(items, found.total)


def _activity_counters(user_id: str, study_ids: list[str],
                       now: datetime | None = None) -> dict[str, dict[str, int]]:
    """new_messages, new_notices and unread_messages per study, one grouped query each."""
    if not study_ids:
        return {}
    now = now or utcnow()
    live_messages = Message.study.in_(study_ids) & Message.deleted_at.is_null()
    new_messages = _counts_by_study(
        Message.select(Message.study, fn.COUNT(Message.id).alias("n"))
        .where(live_messages & (Message.created_at >= now - NEW_MESSAGES_WINDOW))
        .group_by(Message.study))
    new_notices = _counts_by_study(
        Notice.select(Notice.study, fn.COUNT(Notice.id).alias("n"))
        .where(Notice.study.in_(study_ids) & (Notice.created_at >= now - NEW_NOTICES_WINDOW))
        .group_by(Notice.study))
    cursor_joined = ((StudyReadCursor.study == Message.study)
                     & (StudyReadCursor.user == user_id))
    unread = _counts_by_study(
        Message.select(Message.study, fn.COUNT(Message.id).alias("n"))
        .join(StudyReadCursor, JOIN.LEFT_OUTER, on=cursor_joined)
        .where(live_messages & (Message.user != user_id)
               & (Message.seq > fn.COALESCE(StudyReadCursor.last_read_seq, 0)))
        .group_by(Message.study))
    return {study_id: {"new_messages": new_messages.get(study_id, 0),
                       "new_notices": new_notices.get(study_id, 0),
                       "unread_messages": unread.get(study_id, 0)}
            for study_id in study_ids}


def _counts_by_study(query: peewee.SelectBase) -> dict[str, int]:
    return {study_id: n for study_id, n in tuple_rows(query)}
