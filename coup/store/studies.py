"""Studies (COUP.md §7.3): categories, explore, create, detail, settings and soft delete.

Reads and writes run on database workers and return plain views (§6); owners and members are
loaded with their users in the same query, so no lazy foreign-key load reaches the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee
from peewee import SQL, Case, Desc, NodeList, Value, fn

from coup.errors import NotFound, ValidationError
from coup.jsonutil import iso
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import db_task, db_transaction, is_postgres
from coup.store.events import append_event, db_write, lock_study, remove_from_room
from coup.store.fields import utcnow
from coup.store.invites import CLEARED_INVITE, code_grants_access
from coup.store.models import Study, StudyMember, User
from coup.store.rows import selected
from coup.store.study_access import (
    ST_ADMIN_ROLES,
    access_study,
    active_count,
    member_view,
    membership_of,
    room_study_view,
    statuses_of,
    study_detail,
    study_summary,
)
from coup.validation import FieldInvalid, Text

log = logging.getLogger(__name__)

# --- categories (COUP.md §7.3) -----------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    value: str  # stored (Korean)
    label_en: str
    sub_categories: tuple[tuple[str, str], ...]  # (stored value, English label)

    @property
    def sub_values(self) -> tuple[str, ...]:
        return tuple(value for value, _ in self.sub_categories)


CATEGORIES: tuple[Category, ...] = (
    Category("개발", "Development", (
        ("웹", "Web"), ("앱", "App"), ("알고리즘", "Algorithms"), ("데이터 분석", "Data analysis"),
        ("AI", "AI"), ("게임 개발", "Game development"), ("백엔드", "Backend"),
        ("프론트엔드", "Frontend"))),
    Category("언어", "Languages", (
        ("영어", "English"), ("일본어", "Japanese"), ("중국어", "Chinese"),
        ("스페인어", "Spanish"), ("프랑스어", "French"), ("독일어", "German"), ("기타", "Other"))),
    Category("취업/자격증", "Jobs & certifications", (
        ("공무원", "Civil-service exams"), ("토익/토플", "TOEIC/TOEFL"), ("자격증", "Certificates"),
        ("면접 준비", "Interview prep"), ("자기소개서", "Résumé writing"),
        ("포트폴리오", "Portfolio"))),
    Category("교양/취미", "Liberal arts & hobbies", (
        ("독서", "Reading"), ("글쓰기", "Writing"), ("그림", "Drawing"), ("음악", "Music"),
        ("운동", "Exercise"), ("요리", "Cooking"), ("여행", "Travel"))),
    Category("학업", "Academics", (
        ("수학", "Math"), ("과학", "Science"), ("영어", "English"), ("논문", "Papers"),
        ("시험 준비", "Exam prep"), ("프로젝트", "Projects"))),
    Category("재테크", "Personal finance", ()),
    Category("기타", "Other", ()),
)
CATEGORY_BY_VALUE: dict[str, Category] = {c.value: c for c in CATEGORIES}
CATEGORY_VALUES: tuple[str, ...] = tuple(CATEGORY_BY_VALUE)
ALL_SUB_CATEGORIES: frozenset[str] = frozenset(s for c in CATEGORIES for s in c.sub_values)
# The explore filter's "no filter" word (전체 = "All").
ALL_FILTER = "전체"
# Old explore chip labels: alias -> (category, implied sub-category).
CATEGORY_ALIASES: dict[str, tuple[str, str | None]] = {
    "프로그래밍": ("개발", None),
    "어학": ("언어", None),
    "자격증": ("취업/자격증", None),
    "취미": ("교양/취미", None),
    "독서": ("교양/취미", "독서"),
}

# --- study field rules ------------------------------------------------------------------------

MAX_TAGS = 10
TAG = Text(min_len=1, max_len=20)
DEFAULT_MAX_MEMBERS = 20
# The detail view lists at most this many members; the full list is paginated elsewhere.
DETAIL_MEMBERS_LIMIT = 100
OWNER_COLUMNS = (User.id, User.name, User.avatar, User.status)


def categories_view() -> list[dict[str, Any]]:
    return [{"value": c.value, "label_en": c.label_en,
             "sub_categories": [{"value": v, "label_en": en} for v, en in c.sub_categories]}
            for c in CATEGORIES]


def sub_category_problem(category: str, sub_category: str | None) -> str | None:
    """Why `sub_category` does not fit `category`, or None when it does."""
    allowed = CATEGORY_BY_VALUE[category].sub_values
    if sub_category is None:
        return None
    if not allowed:
        return f"must be null for the category {category}"
    if sub_category not in allowed:
        return f"must be one of {', '.join(allowed)}"
    return None


def clean_tags(values: Sequence[Any]) -> list[str]:
    """Each tag 1–20 characters, duplicates removed case-insensitively (the first spelling
    stays), at most 10 after that; problems are reported per item as `tags[i]`."""
    problems: dict[str, str] = {}
    tags: list[str] = []
    seen: set[str] = set()
    for index, value in enumerate(values):
        try:
            tag = TAG.check(value)
        except FieldInvalid as exc:
            problems[f"tags[{index}]"] = str(exc)
            continue
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if not problems and len(tags) > MAX_TAGS:
        problems["tags"] = f"must have at most {MAX_TAGS} different tags"
    if problems:
        raise ValidationError(problems)
    return tags


# --- explore ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExploreFilters:
    """`GET /api/studies` query, already validated (category aliases resolved)."""

    category: str | None = None
    sub_category: str | None = None
    search: str | None = None
    recruiting: str = "all"  # all | recruiting | closed
    sort: str = "latest"  # latest | popular
    exclude_mine: bool = False


def resolve_category_filter(category: str | None,
                            sub_category: str | None) -> tuple[str | None, str | None]:
    """Map the explore filter (stored values, old aliases, 전체) to stored values."""
    problems: dict[str, str] = {}
    category = None if category in (None, "", ALL_FILTER) else category
    sub_category = None if sub_category in (None, "", ALL_FILTER) else sub_category
    implied: str | None = None
    if category is not None and category not in CATEGORY_BY_VALUE:
        if category in CATEGORY_ALIASES:
            category, implied = CATEGORY_ALIASES[category]
        else:
            problems["category"] = f"must be one of {', '.join(CATEGORY_VALUES)}"
    if sub_category is None:
        sub_category = implied
    elif category is not None and "category" not in problems:
        problem = sub_category_problem(category, sub_category)
        if problem:
            problems["sub_category"] = problem
    elif sub_category not in ALL_SUB_CATEGORIES:
        problems["sub_category"] = "is not a known sub-category"
    if problems:
        raise ValidationError(problems)
    return category, sub_category


def _active_member_count() -> peewee.Select:
    """Correlated subquery: ACTIVE members of the outer query's study."""
    counted = StudyMember.alias("counted")
    return counted.select(fn.COUNT(counted.id)).where(
        (counted.study == Study.id) & (counted.status == "ACTIVE"))


def _has_tag(term: str) -> NodeList:
    """An exact, case-insensitive match of one element of the JSON `tags` list."""
    if is_postgres():
        parts = (SQL("EXISTS (SELECT 1 FROM jsonb_array_elements_text("), Study.tags,
                 SQL(") AS tag(value) WHERE lower(tag.value) = lower("), Value(term), SQL("))"))
    else:
        parts = (SQL("EXISTS (SELECT 1 FROM json_each("), Study.tags,
                 SQL(") AS tag WHERE lower(tag.value) = lower("), Value(term), SQL("))"))
    return NodeList(parts, glue="")


@db_task
def explore_studies(filters: ExploreFilters, page: PageRequest,
                    viewer_id: str | None) -> Page[dict[str, Any]]:
    """Public, visible, ACTIVE studies: filtered, sorted and paged in SQL (3 queries)."""
    current = _active_member_count()
    query = (Study.select(Study, *OWNER_COLUMNS, current.alias("current_members"))
             .join(User, on=(Study.owner == User.id), attr="owner")
             .where(Study.is_public, ~Study.is_hidden, Study.status == "ACTIVE"))
    if filters.category is not None:
        query = query.where(Study.category == filters.category)
    if filters.sub_category is not None:
        query = query.where(Study.sub_category == filters.sub_category)
    if filters.search:
        term = filters.search
        query = query.where(Study.name.contains(term) | Study.description.contains(term)
                            | _has_tag(term))
    if filters.recruiting == "recruiting":
        query = query.where(Study.is_recruiting & (current < Study.max_members))
    elif filters.recruiting == "closed":
        query = query.where(~Study.is_recruiting | (current >= Study.max_members))
    if filters.exclude_mine and viewer_id is not None:
        mine = StudyMember.select(StudyMember.study).where(
            (StudyMember.user == viewer_id) & StudyMember.status.in_(("ACTIVE", "PENDING")))
        query = query.where(Study.id.not_in(mine))
    newest = (Study.created_at.desc(), Study.id.desc())
    popular = (Desc(current),) if filters.sort == "popular" else ()
    query = query.order_by(*popular, *newest)
    found = paginate(query, page)
    statuses = statuses_of(viewer_id, [s.id for s in found.items])
    return Page([study_summary(s, s.owner, selected(s, "current_members"), statuses.get(s.id))
                 for s in found.items], found.total)


# --- create -----------------------------------------------------------------------------------


@db_transaction
def create_study(owner_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The study and its creator's OWNER membership (ACTIVE at once); returns the Study."""
    problem = sub_category_problem(fields["category"], fields.get("sub_category"))
    if problem:
        raise ValidationError({"sub_category": problem})
    now = utcnow()
    study = Study.create(owner=owner_id, created_at=now, updated_at=now, **fields)
    member = StudyMember.create(study=study.id, user=owner_id, role="OWNER", status="ACTIVE",
                                applied_at=now, joined_at=now, approved_at=now,
                                created_at=now, updated_at=now)
    owner = User.select(*OWNER_COLUMNS).where(User.id == owner_id).get()
    log.info("study %s created by %s", study.id, owner_id)
    return study_detail(study, owner, 1, member)


# --- detail -----------------------------------------------------------------------------------


def _visible(study: Study, mine: StudyMember | None, invite_code: str | None) -> bool:
    """COUP.md §7.3 / §10.2: members and applicants always; others when public and visible,
    or with an active code of this study."""
    if study.status == "DELETED":
        return False
    if mine is not None and mine.status in ("ACTIVE", "PENDING"):
        return True
    if study.is_public and not study.is_hidden:
        return True
    return code_grants_access(study, invite_code)


def _detail_members(study_id: str) -> list[StudyMember]:
    rank = Case(StudyMember.role, (("OWNER", 0), ("ADMIN", 1)), 2)
    return list(StudyMember.select(StudyMember, *OWNER_COLUMNS)
                .join(User, on=(StudyMember.user == User.id), attr="user")
                .where((StudyMember.study == study_id) & (StudyMember.status == "ACTIVE"))
                .order_by(rank, StudyMember.joined_at.asc(), StudyMember.id)
                .limit(DETAIL_MEMBERS_LIMIT))


@db_task
def load_study_detail(study_id: str, viewer_id: str | None,
                      invite_code: str | None = None) -> dict[str, Any]:
    """`GET /api/studies/{id}`: the Study with its members; NOT_FOUND when not visible."""
    study = (Study.select(Study, *OWNER_COLUMNS)
             .join(User, on=(Study.owner == User.id), attr="owner")
             .where(Study.id == study_id).first())
    mine = membership_of(study_id, viewer_id) if viewer_id and study is not None else None
    if study is None or not _visible(study, mine, invite_code):
        raise NotFound()
    members = _detail_members(study_id)
    current = len(members) if len(members) < DETAIL_MEMBERS_LIMIT else active_count(study_id)
    pending = None
    if mine is not None and mine.status == "ACTIVE" and mine.role in ST_ADMIN_ROLES:
        pending = StudyMember.select().where(
            (StudyMember.study == study_id) & (StudyMember.status == "PENDING")).count()
    return {
        **study_detail(study, study.owner, current, mine),
        "members": [member_view(m, m.user) for m in members],
        "pending_requests": pending,
    }


# --- update and delete ------------------------------------------------------------------------


def _own_view(room_view: dict[str, Any], membership: StudyMember) -> dict[str, Any]:
    """The Study as its owner sees it: the room view with the personal fields filled in."""
    return {**room_view, "my_status": membership.status,
            "my_role": membership.role, "my_joined_at": iso(membership.joined_at)}


@db_write
def update_study(study_id: str, actor_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """OWNER edits whitelisted settings (validated by the caller); `study:updated` follows."""
    study = lock_study(study_id)
    if study is None:
        raise NotFound()
    access = access_study(study_id, actor_id, "OWNER", writable=True, study=study)
    problems: dict[str, str] = {}
    category = changes.get("category", study.category)
    sub_category = changes.get("sub_category", study.sub_category)
    if "category" in changes or "sub_category" in changes:
        problem = sub_category_problem(category, sub_category)
        if problem:
            problems["sub_category"] = problem
    if "max_members" in changes:
        current = active_count(study_id)
        if changes["max_members"] < current:
            problems["max_members"] = f"must be at least the {current} active members"
    if problems:
        raise ValidationError(problems)
    # Turning auto_approve on leaves pending applications as they are (COUP.md §7.3).
    Study.update(**changes).where(Study.id == study_id).execute()
    view = room_study_view(study_id)
    append_event(study_id, "study:updated", {"study": view})
    log.info("study %s settings changed by %s: %s", study_id, actor_id, sorted(changes))
    return _own_view(view, access.membership)


@db_write
def delete_study(study_id: str, actor_id: str) -> None:
    """Soft delete by the OWNER (also while CLOSED); everyone leaves the room after commit."""
    study = lock_study(study_id)
    if study is None:
        raise NotFound()
    access_study(study_id, actor_id, "OWNER", study=study)
    now = utcnow()
    Study.update(status="DELETED", deleted_at=now, **CLEARED_INVITE).where(
        Study.id == study_id).execute()
    StudyMember.delete().where(
        (StudyMember.study == study_id) & (StudyMember.status == "PENDING")).execute()
    append_event(study_id, "study:deleted", {})
    remove_from_room(study_id, None, "deleted")
    log.info("study %s deleted by its owner %s", study_id, actor_id)
