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
    AVATAR_URL,
    USER_ID,
    Boolean,
    Choice,
    Email,
    FieldInvalid,
    Integer,
    ListShape,
    OptionalChoice,
    Problems,
    Rule,
    Text,
    clean_text,
    parse_fields,
    parse_query_bool,
    parse_query_int,
    query_choice,
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
    problems = Problems()
    data = parse_fields(body, UPDATE_SCHEMA if update else CREATE_SCHEMA, problems,
                        partial=update)
    if isinstance(data.get("tags"), list):
        tags = problems.check(clean_tags, data["tags"])
        if tags is not None:
            data["tags"] = tags
    problems.raise_if_any()
    if not update:
        data = {**DEFAULTS, **{k: v for k, v in data.items() if v is not None}}
    return data


def _page(handler: ApiHandler, default_limit: int) -> PageRequest:
    return parse_page(handler.get_query_argument("page", None),
                      handler.get_query_argument("limit", None), default_limit=default_limit)


def _search_text(raw: str | None, name: str, *, required: bool = False) -> str:
    """The cleaned search text, "" when absent or blank (refused when required)."""
    term = clean_text(raw or "")
    if required and not term:
        raise ValidationError({name: "is required"})
    if len(term) > SEARCH_MAX_CHARS:
        raise ValidationError({name: f"must be at most {SEARCH_MAX_CHARS} characters"})
    return term


def _search_term(raw: str | None, name: str) -> str | None:
    """An optional search filter: None when absent or blank."""
    return _search_text(raw, name) or None


def _optional_count(raw: str | None, name: str) -> int | None:
    """A non-negative member-count bound; absent or empty means no bound."""
    if not raw:
        return None
    return parse_query_int(raw, name, 0, 0, MEMBER_COUNT_MAX)


class GroupsHandler(ApiHandler):
    async def get(self) -> None:
        viewer_id = self.user_id
        arg = self.get_query_argument
        problems = Problems()
        # Each value is checked on its own line, in the order the problems are reported: passed
        # straight to GroupFilters, `check` would be typed from the field rather than the parser.
        category = problems.check(query_choice, arg("category", None), "category",
                                  GROUP_CATEGORY, None)
        is_public = problems.check(parse_query_bool, arg("is_public", None), "is_public", None)
        is_recruiting = problems.check(parse_query_bool, arg("is_recruiting", None),
                                       "is_recruiting", None)
        search = problems.check(_search_term, arg("search", None), "search")
        sort = problems.check(query_choice, arg("sort", None), "sort", SORTS, "latest")
        mine = problems.check(parse_query_bool, arg("mine", None), "mine", False)
        filters = GroupFilters(category=category, is_public=is_public,
                               is_recruiting=is_recruiting, search=search,
                               sort=sort or "latest", mine=bool(mine))
        page = problems.check(_page, self, GROUPS_PAGE_LIMIT)
        problems.raise_if_any()
        assert page is not None
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
        problems = Problems()
        q = problems.check(_search_text, arg("q", None), "q", required=True)
        category = problems.check(query_choice, arg("category", None), "category",
                            GROUP_CATEGORY, None)
        low, high = (problems.check(_optional_count, arg(name, None), name)
                     for name in ("min_members", "max_members"))
        if low is not None and high is not None and low > high:
            problems.add("max_members", "must not be below min_members")
        page = problems.check(_page, self, GROUPS_PAGE_LIMIT)
        problems.raise_if_any()
        assert q is not None and page is not None
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
        problems = Problems()
        status = problems.check(query_choice, self.get_query_argument("status", None),
                          "status", GROUP_MEMBER_STATUS, "ACTIVE")
        page = problems.check(_page, self, MEMBERS_PAGE_LIMIT)
        problems.raise_if_any()
        assert page is not None
        found = await group_members.list_members(group_id, viewer_id, status or "ACTIVE", page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self, group_id: str) -> None:
        actor_id = self.user_id
        data = self.parse(self.add_schema)
        self.created(await group_members.add_member(group_id, actor_id, data["user_id"],
                                                    data.get("role") or "MEMBER"))

    async def delete(self, group_id: str) -> None:
        actor_id = self.user_id
        problems = Problems()
        user_id = self.get_query_argument("user_id", None)
        if not user_id:
            problems.add("user_id", "is required")
        kick = problems.check(parse_query_bool, self.get_query_argument("kick", None),
                        "kick", False)
        problems.raise_if_any()
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
        problems = Problems()
        status = problems.check(query_choice, self.get_query_argument("status", None),
                          "status", GROUP_INVITE_STATUS, None)
        page = problems.check(_page, self, INVITES_PAGE_LIMIT)
        problems.raise_if_any()
        assert page is not None
        found = await group_members.list_invites(group_id, viewer_id, status, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self, group_id: str) -> None:
        actor_id = self.user_id
        problems = Problems()
        data = parse_fields(self.json_body(allow_empty=True), self.create_schema, problems)
        user_id, email = data.get("user_id"), data.get("email")
        if user_id is not None and email is not None:
            problems.add("email", "send at most one of user_id and email")
        problems.raise_if_any()
        self.created(await group_members.create_invite(
            group_id, actor_id, user_id, email, data.get("expires_in_days") or 7))

    async def delete(self, group_id: str) -> None:
        actor_id = self.user_id
        invite_id = self.get_query_argument("invite_id", None)
        if not invite_id:
            raise ValidationError({"invite_id": "is required"})
        await group_members.cancel_invite(group_id, actor_id, invite_id)
        self.ok(None)
