"""Community groups (COUP.md §7.16): access, views, create, edit, delete, list and search.

Groups are separate from studies: no realtime events and no notifications in v1. A public
group is visible to every user; a private one only to its ACTIVE members, and `access_group`
answers NOT_FOUND to everyone else, so its existence never leaks. Membership, invites and
joins are in `coup.store.group_members`.

Names are unique case-insensitively among groups that are not deleted. There is no index that
could enforce it (deleted groups keep their names), so create and rename take a transaction
lock on the lowercased name on PostgreSQL before checking; SQLite's one writer serialises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee
from peewee import Case, Desc, fn

from coup.errors import ApiError, Forbidden, NotFound, ValidationError
from coup.jsonutil import iso
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import database, db_task, db_transaction, is_postgres
from coup.store.fields import utcnow
from coup.store.models import Group, GroupInvite, GroupMember, User
from coup.store.rows import selected
from coup.store.views import user_summary

GROUP_ADMIN_ROLES = ("OWNER", "ADMIN")
# Lower ranks outrank higher ones: OWNER 0, ADMIN 1, MEMBER 2.
ROLE_RANK = {"OWNER": 0, "ADMIN": 1, "MEMBER": 2}
MEMBERS_PREVIEW_LIMIT = 10


@dataclass(frozen=True)
class GroupAccess:
    """A visible group and the caller's row in it (None: never a member)."""

    group: Group
    membership: GroupMember | None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.is_member and self.membership is not None else None

    @property
    def is_member(self) -> bool:
        return self.membership is not None and self.membership.status == "ACTIVE"

    @property
    def is_admin(self) -> bool:
        return self.is_member and self.role in GROUP_ADMIN_ROLES


@dataclass(frozen=True)
class GroupFilters:
    """`GET /api/groups` query, already validated; None means "no filter"."""

    category: str | None = None
    is_public: bool | None = None
    is_recruiting: bool | None = None
    search: str | None = None
    sort: str = "latest"  # latest | popular
    mine: bool = False


# --- access -----------------------------------------------------------------------------------


def membership_of(group_id: str, user_id: str) -> GroupMember | None:
    return GroupMember.select().where(
        (GroupMember.group == group_id) & (GroupMember.user == user_id)).first()


def find_live_group(group_id: str, *, lock: bool = False) -> Group | None:
    """The group unless missing or deleted; `lock` holds its row until commit (PostgreSQL),
    which serialises the capacity and ownership checks of concurrent writes."""
    query = Group.select().where((Group.id == group_id) & Group.deleted_at.is_null())
    if lock and is_postgres():
        query = query.for_update()
    return query.first()


def access_group(group_id: str, user_id: str, level: str = "VISIBLE", *,
                 lock: bool = False) -> GroupAccess:
    """The group checked for `level`: VISIBLE, MEMBER (ACTIVE), ADMIN (group ADMIN+), OWNER.

    NOT_FOUND when it is missing, deleted, or private and the caller is not an ACTIVE member;
    NOT_MEMBER for a public group the level needs membership of; FORBIDDEN for a low role.
    """
    group = find_live_group(group_id, lock=lock)
    if group is None:
        raise NotFound()
    access = GroupAccess(group, membership_of(group.id, user_id))
    if not access.is_member:
        if not group.is_public:
            raise NotFound()
        if level != "VISIBLE":
            raise ApiError("NOT_MEMBER", message="You are not a member of this group.")
    if level == "ADMIN" and not access.is_admin:
        raise Forbidden(message="Only the group's OWNER and ADMINs can do this.")
    if level == "OWNER" and access.role != "OWNER":
        raise Forbidden(message="Only the group's OWNER can do this.")
    return access


def active_count(group_id: str) -> int:
    return GroupMember.select().where(
        (GroupMember.group == group_id) & (GroupMember.status == "ACTIVE")).count()


def refuse_if_full(group: Group) -> None:
    if active_count(group.id) >= group.max_members:
        raise ApiError("GROUP_FULL")


# --- views ------------------------------------------------------------------------------------


def group_view(group: Group, creator: User, current_members: int,
               mine: GroupMember | None) -> dict[str, Any]:
    """The Group object of §6; `my_role` only while the caller is an ACTIVE member."""
    is_member = mine is not None and mine.status == "ACTIVE"
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "category": group.category,
        "image_url": group.image_url,
        "tags": list(group.tags or []),
        "is_public": group.is_public,
        "max_members": group.max_members,
        "is_recruiting": group.is_recruiting,
        "current_members": current_members,
        "created_by": user_summary(creator),
        "is_member": is_member,
        "my_role": mine.role if is_member and mine is not None else None,
        "my_status": mine.status if mine is not None else None,
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
    }


def group_member_view(member: GroupMember, user: User) -> dict[str, Any]:
    return {"user": user_summary(user), "role": member.role, "status": member.status,
            "joined_at": iso(member.joined_at), "left_at": iso(member.left_at)}


def _current_members() -> peewee.Select:
    """Correlated subquery: ACTIVE members of the outer query's group."""
    counted = GroupMember.alias("counted")
    return counted.select(fn.COUNT(counted.id)).where(
        (counted.group == Group.id) & (counted.status == "ACTIVE"))


def _groups_with_creators(current: peewee.Select) -> peewee.ModelSelect[Group]:
    return (Group.select(Group, User, current.alias("current_members"))
            .join(User, on=(Group.created_by == User.id)))


def views_for(groups: Sequence[Group], viewer_id: str) -> list[dict[str, Any]]:
    """Group views for rows loaded with their creator and count: one more query (my rows)."""
    mine = {row.group_id: row for row in GroupMember.select().where(
        (GroupMember.user == viewer_id) & GroupMember.group.in_([g.id for g in groups]))}
    return [group_view(g, g.created_by, selected(g, "current_members"), mine.get(g.id))
            for g in groups]


def load_group_view(group_id: str, viewer_id: str) -> dict[str, Any]:
    group = _groups_with_creators(_current_members()).where(Group.id == group_id).get()
    return views_for([group], viewer_id)[0]


def members_with_users() -> peewee.ModelSelect[GroupMember]:
    return GroupMember.select(GroupMember, User).join(User, on=(GroupMember.user == User.id))


def member_order() -> tuple[Any, ...]:
    """OWNER, ADMIN, MEMBER, then the longest-serving first (§7.16 member list order)."""
    rank = Case(GroupMember.role, (("OWNER", 0), ("ADMIN", 1)), 2)
    return rank, GroupMember.joined_at, GroupMember.id


def load_member_view(group_id: str, user_id: str) -> dict[str, Any]:
    row = members_with_users().where((GroupMember.group == group_id)
                                     & (GroupMember.user == user_id)).get()
    return group_member_view(row, row.user)


# --- reads ------------------------------------------------------------------------------------


def _visible_to(viewer_id: str) -> peewee.Expression:
    mine = GroupMember.select(GroupMember.group).where(
        (GroupMember.user == viewer_id) & (GroupMember.status == "ACTIVE"))
    return Group.deleted_at.is_null() & (Group.is_public | Group.id.in_(mine))


@db_task
def list_groups(viewer_id: str, filters: GroupFilters,
                page: PageRequest) -> Page[dict[str, Any]]:
    """GET /api/groups: groups visible to the caller, filtered and sorted in SQL (3 queries)."""
    current = _current_members()
    query = _groups_with_creators(current).where(_visible_to(viewer_id))
    if filters.category is not None:
        query = query.where(Group.category == filters.category)
    if filters.is_public is not None:
        query = query.where(Group.is_public == filters.is_public)
    if filters.is_recruiting is not None:
        query = query.where(Group.is_recruiting == filters.is_recruiting)
    if filters.search:
        query = query.where(Group.name.contains(filters.search)
                            | Group.description.contains(filters.search))
    if filters.mine:
        query = query.where(Group.id.in_(GroupMember.select(GroupMember.group).where(
            (GroupMember.user == viewer_id) & (GroupMember.status == "ACTIVE"))))
    popular = (Desc(current),) if filters.sort == "popular" else ()
    query = query.order_by(*popular, Group.created_at.desc(), Group.id.desc())
    found = paginate(query, page)
    return Page(views_for(found.items, viewer_id), found.total)


@db_task
def search_groups(viewer_id: str, q: str, category: str | None, min_members: int | None,
                  max_members: int | None, page: PageRequest) -> Page[dict[str, Any]]:
    """GET /api/groups/search: name or description matches, name matches first, then newest;
    `min_members` and `max_members` bound the ACTIVE member count."""
    current = _current_members()
    in_name = Group.name.contains(q)
    query = (_groups_with_creators(current)
             .where(_visible_to(viewer_id) & (in_name | Group.description.contains(q))))
    if category is not None:
        query = query.where(Group.category == category)
    if min_members is not None:
        query = query.where(current >= min_members)
    if max_members is not None:
        query = query.where(current <= max_members)
    query = query.order_by(Case(None, ((in_name, 0),), 1), Group.created_at.desc(),
                           Group.id.desc())
    found = paginate(query, page)
    return Page(views_for(found.items, viewer_id), found.total)


@db_task
def load_group_detail(group_id: str, viewer_id: str) -> dict[str, Any]:
    """GET /api/groups/{id}: the Group and its first 10 ACTIVE members in list order."""
    access_group(group_id, viewer_id)
    preview = (members_with_users()
               .where((GroupMember.group == group_id) & (GroupMember.status == "ACTIVE"))
               .order_by(*member_order()).limit(MEMBERS_PREVIEW_LIMIT))
    return {**load_group_view(group_id, viewer_id),
            "members_preview": [group_member_view(row, row.user) for row in preview]}


# --- writes -----------------------------------------------------------------------------------


def _claim_name(name: str, group_id: str | None = None) -> None:
    """GROUP_NAME_TAKEN unless no other live group uses `name` (any case), checked under a
    transaction lock on the name so two writers cannot both take it."""
    if is_postgres():
        database.execute_sql("SELECT pg_advisory_xact_lock(hashtext('coup:group-name:' || "
                             "lower(%s)))", (name,))
    query = Group.select(Group.id).where(Group.deleted_at.is_null()
                                         & (fn.LOWER(Group.name) == fn.LOWER(name)))
    if group_id is not None:
        query = query.where(Group.id != group_id)
    if query.exists():
        raise ApiError("GROUP_NAME_TAKEN", fields={"name": "is already used by another group"})


@db_transaction
def create_group(user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The group and its creator's OWNER membership, in one transaction."""
    _claim_name(fields["name"])
    now = utcnow()
    group = Group.create(created_by=user_id, created_at=now, updated_at=now, **fields)
    GroupMember.create(group=group.id, user=user_id, role="OWNER", status="ACTIVE",
                       joined_at=now)
    return load_group_view(group.id, user_id)


@db_transaction
def update_group(group_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH (group ADMIN+): the name stays unique; `max_members` not below the ACTIVE count."""
    access_group(group_id, user_id, "ADMIN", lock=True)
    if "name" in changes:
        _claim_name(changes["name"], group_id)
    if "max_members" in changes:
        members = active_count(group_id)
        if changes["max_members"] < members:
            raise ValidationError({"max_members": f"must be at least the {members} "
                                                  "current members"})
    Group.update(**changes).where(Group.id == group_id).execute()
    return load_group_view(group_id, user_id)


@db_transaction
def delete_group(group_id: str, user_id: str) -> None:
    """DELETE (group OWNER): only when nobody else is ACTIVE; PENDING invites are cancelled."""
    access_group(group_id, user_id, "OWNER", lock=True)
    others = GroupMember.select().where(
        (GroupMember.group == group_id) & (GroupMember.status == "ACTIVE")
        & (GroupMember.user != user_id))
    if others.exists():
        raise ApiError("GROUP_NOT_EMPTY")
    Group.update(deleted_at=utcnow()).where(Group.id == group_id).execute()
    GroupInvite.update(status="CANCELLED").where(
        (GroupInvite.group == group_id) & (GroupInvite.status == "PENDING")).execute()
