"""Access to a study with the permission check of COUP.md §3.1, and the study views of §6.

`access_study` answers NOT_FOUND whether the study is missing, deleted, or private/hidden and
the caller is not a member, so a study's existence never leaks to outsiders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from peewee import JOIN, fn

from coup.errors import ApiError, Forbidden, NotFound
from coup.jsonutil import iso
from coup.store.models import Study, StudyMember, User
from coup.store.rows import selected
from coup.store.views import user_summary

# Required role for each access level above MEMBER.
ST_ADMIN_ROLES = ("OWNER", "ADMIN")
ROLE_ORDER = {"OWNER": 0, "ADMIN": 1, "MEMBER": 2}


@dataclass(frozen=True)
class StudyAccess:
    study: Study
    membership: StudyMember

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def is_st_admin(self) -> bool:
        return self.membership.role in ST_ADMIN_ROLES


def membership_of(study_id: str, user_id: str) -> StudyMember | None:
    return StudyMember.select().where(
        (StudyMember.study == study_id) & (StudyMember.user == user_id)).first()


def access_study(study_id: str, user_id: str, level: str = "MEMBER", *,
                 writable: bool = False, study: Study | None = None) -> StudyAccess:
    """The study and the caller's ACTIVE membership, checked for `level` (MEMBER, ST_ADMIN,
    OWNER); `writable` also refuses CLOSED studies with STUDY_CLOSED (§10.2)."""
    study = study or Study.select().where(Study.id == study_id).first()
    if study is None or study.status == "DELETED":
        raise NotFound()
    membership = membership_of(study.id, user_id)
    if membership is None or membership.status != "ACTIVE":
        if not study.is_public or study.is_hidden:
            raise NotFound()
        raise ApiError("NOT_MEMBER")
    if level == "ST_ADMIN" and membership.role not in ST_ADMIN_ROLES:
        raise Forbidden()
    if level == "OWNER" and membership.role != "OWNER":
        raise Forbidden()
    if writable and study.status == "CLOSED":
        raise ApiError("STUDY_CLOSED")
    return StudyAccess(study, membership)


def active_member_ids(study_id: str, roles: Sequence[str] | None = None) -> list[str]:
    query = StudyMember.select(StudyMember.user).where(
        (StudyMember.study == study_id) & (StudyMember.status == "ACTIVE"))
    if roles:
        query = query.where(StudyMember.role.in_(roles))
    return [row.user_id for row in query]


def active_count(study_id: str) -> int:
    return StudyMember.select().where(
        (StudyMember.study == study_id) & (StudyMember.status == "ACTIVE")).count()


def active_counts(study_ids: Iterable[str]) -> dict[str, int]:
    """ACTIVE member counts for many studies in one query."""
    ids = list(study_ids)
    if not ids:
        return {}
    rows = (StudyMember.select(StudyMember.study, fn.COUNT(StudyMember.id).alias("n"))
            .where(StudyMember.study.in_(ids) & (StudyMember.status == "ACTIVE"))
            .group_by(StudyMember.study))
    return {row.study_id: selected(row, "n") for row in rows}


def statuses_of(user_id: str | None, study_ids: Iterable[str]) -> dict[str, StudyMember]:
    ids = list(study_ids)
    if user_id is None or not ids:
        return {}
    rows = StudyMember.select().where(
        (StudyMember.user == user_id) & StudyMember.study.in_(ids))
    return {row.study_id: row for row in rows}


def study_summary(study: Study, owner: User, current_members: int,
                  my_membership: StudyMember | None) -> dict[str, Any]:
    recruiting = (study.is_recruiting and current_members < study.max_members
                  and study.status != "CLOSED")
    return {
        "id": study.id,
        "name": study.name,
        "emoji": study.emoji,
        "description": study.description,
        "category": study.category,
        "sub_category": study.sub_category,
        "tags": list(study.tags or []),
        "max_members": study.max_members,
        "current_members": current_members,
        "is_public": study.is_public,
        "auto_approve": study.auto_approve,
        "is_recruiting": study.is_recruiting,
        "recruiting_state": "recruiting" if recruiting else "closed",
        "status": study.status,
        "rating": study.rating,
        "review_count": study.review_count,
        "owner": user_summary(owner),
        "created_at": iso(study.created_at),
        "my_status": my_membership.status if my_membership else None,
    }


def study_detail(study: Study, owner: User, current_members: int,
                 my_membership: StudyMember | None) -> dict[str, Any]:
    """The Study object; `is_hidden` and `closed_reason` only for ACTIVE members."""
    member = (my_membership if my_membership is not None and my_membership.status == "ACTIVE"
              else None)
    is_member = member is not None
    return {
        **study_summary(study, owner, current_members, my_membership),
        "is_hidden": study.is_hidden if is_member else None,
        "closed_reason": study.closed_reason if is_member else None,
        "updated_at": iso(study.updated_at),
        "my_role": member.role if member is not None else None,
        "my_joined_at": iso(member.joined_at) if member is not None else None,
    }


def room_study_view(study_id: str) -> dict[str, Any]:
    """The `study:updated` payload: the member view with the personal fields null (§6)."""
    study = Study.get_by_id(study_id)
    owner = User.get_by_id(study.owner_id)
    view = study_detail(study, owner, active_count(study_id), None)
    view["is_hidden"] = study.is_hidden
    view["closed_reason"] = study.closed_reason
    return view


def member_view(member: StudyMember, user: User) -> dict[str, Any]:
    return {
        "user_id": member.user_id,
        "user": user_summary(user),
        "role": member.role,
        "status": member.status,
        "joined_at": iso(member.joined_at),
        "approved_at": iso(member.approved_at),
    }


def load_member_view(study_id: str, user_id: str) -> dict[str, Any]:
    member = (StudyMember.select(StudyMember, User).join(User, JOIN.INNER,
                                                         on=(StudyMember.user == User.id))
              .where((StudyMember.study == study_id) & (StudyMember.user == user_id)).get())
    return member_view(member, member.user)


def summaries_for(studies: Sequence[Study], viewer_id: str | None) -> list[dict[str, Any]]:
    """StudySummary for a page of studies: owners, counts and the viewer's rows in 3 queries."""
    if not studies:
        return []
    ids = [s.id for s in studies]
    owners = {u.id: u for u in User.select().where(User.id.in_({s.owner_id for s in studies}))}
    counts = active_counts(ids)
    mine = statuses_of(viewer_id, ids)
    return [study_summary(s, owners[s.owner_id], counts.get(s.id, 0), mine.get(s.id))
            for s in studies]
