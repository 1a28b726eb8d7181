"""Study endpoints (COUP.md §7.3): categories, explore, create, detail, settings, delete."""

from __future__ import annotations

from typing import Any

from coup.errors import ApiError, ValidationError
from coup.handlers.base import ApiHandler
from coup.localtime import utcnow
from coup.pagination import PageRequest, pagination_view, parse_page
from coup.store import studies
from coup.store.membership import refuse_if_restricted
from coup.store.studies import DEFAULT_MAX_MEMBERS, ExploreFilters
from coup.validation import (
    Boolean,
    Choice,
    Integer,
    ListShape,
    Problems,
    Rule,
    Text,
    clean_text,
    parse_fields,
    parse_query_bool,
)

SEARCH_MAX_CHARS = 50
FILTER_MAX_CHARS = 30
RECRUITING_FILTERS = ("all", "recruiting", "closed")
SORTS = ("latest", "popular")
# A study holds its owner and at least one more member.
MIN_MAX_MEMBERS = 2


def _study_schema(*, update: bool, max_members_cap: int) -> dict[str, Rule]:
    """The study fields; in a PATCH every field is optional but only sub_category is nullable.

    The upper bound of max_members is the max_study_members setting, so the schema is built
    per request with it and the message names the bound in force."""
    optional = not update
    return {
        "name": Text(min_len=2, max_len=50),
        "emoji": Text(min_len=1, max_len=16),
        "description": Text(min_len=10, max_len=500, multiline=True),
        "category": Choice(values=studies.CATEGORY_VALUES),
        "sub_category": Text(required=False, nullable=True, max_len=30),
        "tags": ListShape(required=not optional),
        "max_members": Integer(required=not optional, low=MIN_MAX_MEMBERS,
                               high=max_members_cap),
        "is_public": Boolean(required=not optional),
        "auto_approve": Boolean(required=not optional),
        "is_recruiting": Boolean(required=not optional),
    }


def parse_study_fields(body: Any, *, update: bool, max_members_cap: int) -> dict[str, Any]:
    """Validate create (update=False) or PATCH fields; every failing field is reported.

    The sub-category is checked against a category sent in the same body; a PATCH that
    changes only one of them is checked against the stored study by the store."""
    problems = Problems()
    schema = _study_schema(update=update, max_members_cap=max_members_cap)
    data = parse_fields(body, schema, problems, partial=update)
    if isinstance(data.get("tags"), list):
        tags = problems.check(studies.clean_tags, data["tags"])
        if tags is not None:
            data["tags"] = tags
    if "category" in data and "sub_category" not in problems and (
            not update or "sub_category" in data):
        problem = studies.sub_category_problem(data["category"], data.get("sub_category"))
        if problem:
            problems.add("sub_category", problem)
    problems.raise_if_any()
    if not update:
        # Optional fields sent as null take their defaults; sub_category null is a value.
        data = {k: v for k, v in data.items() if v is not None or k == "sub_category"}
        data.setdefault("max_members", min(DEFAULT_MAX_MEMBERS, max_members_cap))
    return data


class CategoriesHandler(ApiHandler):
    async def get(self) -> None:
        self.ok(studies.categories_view())


class StudiesHandler(ApiHandler):
    async def get(self) -> None:
        """Explore (PUBLIC); personalised `my_status` and `exclude_mine` with a session."""
        filters, page = self._explore_query()
        viewer_id = self.auth.user.id if self.auth is not None else None
        found = await studies.explore_studies(filters, page, viewer_id)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self) -> None:
        auth = self.require_user()
        # Order (COUP.md §7.3): FEATURE_DISABLED, then RESTRICTED, then validation.
        if auth.admin_role is None and not await self.services.system_settings.get(
                "allow_study_creation"):
            raise ApiError("FEATURE_DISABLED")
        refuse_if_restricted(auth.user, "STUDY_CREATE", utcnow())
        cap = int(await self.services.system_settings.get("max_study_members"))
        fields = parse_study_fields(self.json_body(), update=False, max_members_cap=cap)
        self.created(await studies.create_study(auth.user.id, fields))

    def _explore_query(self) -> tuple[ExploreFilters, PageRequest]:
        problems: dict[str, str] = {}

        def text(name: str, max_chars: int) -> str | None:
            value = clean_text(self.get_query_argument(name, "") or "")
            if len(value) > max_chars:
                problems[name] = f"must be at most {max_chars} characters"
            return value or None

        def choice(name: str, values: tuple[str, ...]) -> str:
            value = self.get_query_argument(name, "") or values[0]
            if value not in values:
                problems[name] = f"must be one of {', '.join(values)}"
            return value

        category = text("category", FILTER_MAX_CHARS)
        sub_category = text("sub_category", FILTER_MAX_CHARS)
        search = text("search", SEARCH_MAX_CHARS)
        recruiting = choice("recruiting", RECRUITING_FILTERS)
        sort = choice("sort", SORTS)
        exclude_mine = False
        try:
            exclude_mine = bool(parse_query_bool(
                self.get_query_argument("exclude_mine", None), "exclude_mine", False))
        except ValidationError as exc:
            problems.update(exc.fields or {})
        page: PageRequest | None = None
        try:
            page = parse_page(self.get_query_argument("page", None),
                              self.get_query_argument("limit", None))
        except ValidationError as exc:
            problems.update(exc.fields or {})
        if not {"category", "sub_category"} & problems.keys():
            try:
                category, sub_category = studies.resolve_category_filter(category, sub_category)
            except ValidationError as exc:
                problems.update(exc.fields or {})
        if problems or page is None:
            raise ValidationError(problems)
        return ExploreFilters(category, sub_category, search, recruiting, sort,
                              exclude_mine), page


class StudyHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        viewer_id = self.auth.user.id if self.auth is not None else None
        invite_code = self.get_query_argument("invite_code", None) or None
        self.ok(await studies.load_study_detail(study_id, viewer_id, invite_code))

    async def patch(self, study_id: str) -> None:
        user_id = self.user_id
        cap = int(await self.services.system_settings.get("max_study_members"))
        changes = parse_study_fields(self.json_body(), update=True, max_members_cap=cap)
        self.ok(await studies.update_study(study_id, user_id, changes))

    async def delete(self, study_id: str) -> None:
        await studies.delete_study(study_id, self.user_id)
        self.ok(None)
