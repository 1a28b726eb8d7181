"""Community groups (COUP.md §7.16): browse, search, create, edit, delete, join, leave,
members, roles, removal and invites.

Handlers validate the request and hand the decision to one store function
(`coup.store.groups`, `coup.store.group_members`), which checks visibility and the caller's
group role itself.
"""

from __future__ import annotations

from typing import Any

from coup.errors import ValidationError
from coup.handlers.base import ApiHandler
from coup.handlers.membership import USER_ID, OptionalChoice, query_choice
from coup.handlers.users import AVATAR_URL
from coup.pagination import PageRequest, pagination_view, parse_page
from coup.store import group_members, groups
from coup.store.enums import (
    GROUP_CATEGORY,
    GROUP_INVITE_STATUS,
    GROUP_MEMBER_ROLE,
    GROUP_MEMBER_STATUS,
)
from coup.store.groups import GroupFilters
from coup.store.studies import clean_tags
from coup.validation import (
    Boolean,
    Choice,
    Email,
    FieldInvalid,
    Integer,
    ListShape,
    Rule,
    Text,
    clean_text,
    parse_body,
    parse_query_bool,
    parse_query_int,
)

GROUPS_PAGE_LIMIT = 20
MEMBERS_PAGE_LIMIT = 50
INVITES_PAGE_LIMIT = 20
SEARCH_MAX_CHARS = 50
# Member-count bounds are plain non-negative integers (groups hold at most 200 members).
MEMBER_COUNT_MAX = 2**31 - 1
NAME_FORBIDDEN_CHARACTERS = set("<>{}[]\\/")
SORTS = ("latest", "popular")
DEFAULTS: dict[str, Any] = {"description": None, "category": "ETC", "image_url": None,
                            "tags": [], "is_public": True, "is_recruiting": True,
                            "max_members": 50}


def _plain_name(name: str) -> None:
    if NAME_FORBIDDEN_CHARACTERS & set(name):
        raise FieldInvalid("must not contain any of < > { } [ ] \\ /")


def _group_schema(*, update: bool) -> dict[str, Rule]:
    """The create fields; in a PATCH each is optional, and only the nullable ones take null."""
    defaulted = not update  # on create an absent or null field takes its default
    return {
        "name": Text(min_len=2, max_len=50, extra=_plain_name),
        "description": Text(required=False, nullable=True, max_len=1000, multiline=True),
        "category": Choice(required=not defaulted, values=GROUP_CATEGORY),
        "image_url": AVATAR_URL,
        "tags": ListShape(required=not defaulted),
        "is_public": Boolean(required=not defaulted),
        "is_recruiting": Boolean(required=not defaulted),
        "max_members": Integer(required=not defaulted, low=2, high=200),
    }


CREATE_SCHEMA = _group_schema(update=False)
UPDATE_SCHEMA = _group_schema(update=True)


def parse_group_fields(body: Any, *, update: bool) -> dict[str, Any]:
    """Create (with defaults filled in) or PATCH fields; every failing field is reported."""
    problems: dict[str, str] = {}
    data: dict[str, Any] = {}
    try:
        data = parse_body(body, UPDATE_SCHEMA if update else CREATE_SCHEMA, partial=update)
    except ValidationError as exc:
        problems.update(exc.fields or {})
    if isinstance(data.get("tags"), list):
        try:
            data["tags"] = clean_tags(data["tags"])
        except ValidationError as exc:
            problems.update(exc.fields or {})
    if problems:
        raise ValidationError(problems)
    if not update:
        data = {**DEFAULTS, **{k: v for k, v in data.items() if v is not None}}
    return data


def _page(handler: ApiHandler, default_limit: int) -> PageRequest:
    return parse_page(handler.get_query_argument("page", None),
                      handler.get_query_argument("limit", None), default_limit=default_limit)


def _search_term(raw: str | None, name: str, *, required: bool = False) -> str | None:
    term = clean_text(raw or "")
    if required and not term:
        raise ValidationError({name: "is required"})
    if len(term) > SEARCH_MAX_CHARS:
        raise ValidationError({name: f"must be at most {SEARCH_MAX_CHARS} characters"})
    return term or None


def _optional_count(raw: str | None, name: str) -> int | None:
    """A non-negative member-count bound; absent or empty means no bound."""
    if not raw:
        return None
    return parse_query_int(raw, name, 0, 0, MEMBER_COUNT_MAX)


def _collect(problems: dict[str, str], parse: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one parser, adding its VALIDATION_ERROR fields to `problems` (None on failure)."""
    try:
        return parse(*args, **kwargs)
    except ValidationError as exc:
        problems.update(exc.fields or {})
        return None


class GroupsHandler(ApiHandler):
    async def get(self) -> None:
        viewer_id = self.user_id
        arg = self.get_query_argument
        problems: dict[str, str] = {}
        filters = GroupFilters(
            category=_collect(problems, query_choice, arg("category", None), "category",
                              GROUP_CATEGORY, None),
            is_public=_collect(problems, parse_query_bool, arg("is_public", None), "is_public",
                               None),
            is_recruiting=_collect(problems, parse_query_bool, arg("is_recruiting", None),
                                   "is_recruiting", None),
            search=_collect(problems, _search_term, arg("search", None), "search"),
            sort=_collect(problems, query_choice, arg("sort", None), "sort", SORTS,
                          "latest") or "latest",
            mine=bool(_collect(problems, parse_query_bool, arg("mine", None), "mine", False)),
        )
        page = _collect(problems, _page, self, GROUPS_PAGE_LIMIT)
        if problems:
            raise ValidationError(problems)
        found = await groups.list_groups(viewer_id, filters, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self) -> None:
        user_id = self.user_id
        fields = parse_group_fields(self.json_body(), update=False)
        self.created(await groups.create_group(user_id, fields))


class GroupSearchHandler(ApiHandler):
    async def get(self) -> None:
        viewer_id = self.user_id
        arg = self.get_query_argument
        problems: dict[str, str] = {}
        q = _collect(problems, _search_term, arg("q", None), "q", required=True)
        category = _collect(problems, query_choice, arg("category", None), "category",
                            GROUP_CATEGORY, None)
        low, high = (_collect(problems, _optional_count, arg(name, None), name)
                     for name in ("min_members", "max_members"))
        if low is not None and high is not None and low > high:
            problems["max_members"] = "must not be below min_members"
        page = _collect(problems, _page, self, GROUPS_PAGE_LIMIT)
        if problems:
            raise ValidationError(problems)
        found = await groups.search_groups(viewer_id, q, category, low, high, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))


class GroupHandler(ApiHandler):
    async def get(self, group_id: str) -> None:
        self.ok(await groups.load_group_detail(group_id, self.user_id))

    async def patch(self, group_id: str) -> None:
        user_id = self.user_id
        changes = parse_group_fields(self.json_body(), update=True)
        self.ok(await groups.update_group(group_id, user_id, changes))

    async def delete(self, group_id: str) -> None:
        await groups.delete_group(group_id, self.user_id)
        self.ok(None)


class GroupJoinHandler(ApiHandler):
    # Codes are 12 characters; a wrong one of any sane length is INVITE_NOT_FOUND.
    schema = {"invite_code": Text(required=False, nullable=True, max_len=64)}

    async def post(self, group_id: str) -> None:
        user_id = self.user_id
        code = self.parse(self.schema, allow_empty=True).get("invite_code")
        # Codes are issued in upper case; one typed in lower case is the same code.
        member = await group_members.join_group(group_id, user_id,
                                                code.upper() if code else None)
        self.created(member)


class GroupLeaveHandler(ApiHandler):
    async def post(self, group_id: str) -> None:
        user_id = self.user_id
        self.parse({}, allow_empty=True)
        await group_members.leave_group(group_id, user_id)
        self.ok(None)


class GroupMembersHandler(ApiHandler):
    add_schema = {
        "user_id": USER_ID,
        "role": OptionalChoice(required=False, nullable=True, values=("MEMBER", "ADMIN")),
    }

    async def get(self, group_id: str) -> None:
        viewer_id = self.user_id
        problems: dict[str, str] = {}
        status = _collect(problems, query_choice, self.get_query_argument("status", None),
                          "status", GROUP_MEMBER_STATUS, "ACTIVE")
        page = _collect(problems, _page, self, MEMBERS_PAGE_LIMIT)
        if problems:
            raise ValidationError(problems)
        found = await group_members.list_members(group_id, viewer_id, status or "ACTIVE", page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self, group_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.add_schema)
        self.created(await group_members.add_member(group_id, actor_id, data["user_id"],
                                                    data.get("role") or "MEMBER"))

    async def delete(self, group_id: str) -> None:
        actor_id = self.user_id
        problems: dict[str, str] = {}
        user_id = self.get_query_argument("user_id", None)
        if not user_id:
            problems["user_id"] = "is required"
        kick = _collect(problems, parse_query_bool, self.get_query_argument("kick", None),
                        "kick", False)
        if problems:
            raise ValidationError(problems)
        await group_members.remove_member(group_id, actor_id, user_id or "", bool(kick))
        self.ok(None)


class GroupMemberHandler(ApiHandler):
    # OWNER passes validation so that it is refused with OWNER_ROLE_LOCKED (§7.16).
    schema = {"role": Choice(values=GROUP_MEMBER_ROLE)}

    async def patch(self, group_id: str, user_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.schema)
        self.ok(await group_members.change_role(group_id, actor_id, user_id, data["role"]))


class GroupInvitesHandler(ApiHandler):
    create_schema = {
        "user_id": Text(required=False, nullable=True, max_len=64),
        "email": Email(required=False, nullable=True),
        "expires_in_days": Integer(required=False, nullable=True, low=1, high=30),
    }

    async def get(self, group_id: str) -> None:
        viewer_id = self.user_id
        problems: dict[str, str] = {}
        status = _collect(problems, query_choice, self.get_query_argument("status", None),
                          "status", GROUP_INVITE_STATUS, None)
        page = _collect(problems, _page, self, INVITES_PAGE_LIMIT)
        if problems:
            raise ValidationError(problems)
        found = await group_members.list_invites(group_id, viewer_id, status, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self, group_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.create_schema, allow_empty=True)
        user_id, email = data.get("user_id"), data.get("email")
        if user_id is not None and email is not None:
            raise ValidationError({"email": "send at most one of user_id and email"})
        self.created(await group_members.create_invite(
            group_id, actor_id, user_id, email, data.get("expires_in_days") or 7))

    async def delete(self, group_id: str) -> None:
        actor_id = self.user_id
        invite_id = self.get_query_argument("invite_id", None)
        if not invite_id:
            raise ValidationError({"invite_id": "is required"})
        await group_members.cancel_invite(group_id, actor_id, invite_id)
        self.ok(None)
