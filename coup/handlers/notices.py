"""Study notices (COUP.md §7.8): list, open, create, edit, delete and pin."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from coup.handlers.base import ApiHandler
from coup.pagination import pagination_view, parse_page
from coup.sanitize import sanitize_html
from coup.store import notices
from coup.validation import (
    Boolean,
    FieldInvalid,
    Problems,
    Rule,
    Text,
    clean_text,
    parse_query_bool,
)

TITLE_MIN_CHARS = 2
TITLE_MAX_CHARS = 100
CONTENT_MAX_CHARS = 10_000
MAX_ATTACHMENTS = 5
# A longer list is abuse, not a notice with many duplicate entries.
MAX_ATTACHMENT_ENTRIES = 50
LIST_DEFAULT_LIMIT = 10
_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class RichText(Rule):
    """Notice content: cleaned like any multi-line text, then whitelisted (§7.8); the length
    limit applies to the sanitised result."""

    max_len: int = CONTENT_MAX_CHARS

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldInvalid("must be a string")
        content = sanitize_html(clean_text(value, multiline=True)).strip()
        if not content:
            raise FieldInvalid("must not be empty once disallowed markup is removed")
        if len(content) > self.max_len:
            raise FieldInvalid(f"must be at most {self.max_len} characters")
        return content


@dataclass(frozen=True)
class FileIds(Rule):
    """Up to 5 distinct file ids; repeats collapse, order is kept."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise FieldInvalid("must be a list of file ids")
        if len(value) > MAX_ATTACHMENT_ENTRIES or not all(
                isinstance(item, str) and _ID.fullmatch(item) for item in value):
            raise FieldInvalid("must be a list of file ids")
        distinct = list(dict.fromkeys(value))
        if len(distinct) > MAX_ATTACHMENTS:
            raise FieldInvalid(f"must have at most {MAX_ATTACHMENTS} files")
        return distinct


TITLE = Text(min_len=TITLE_MIN_CHARS, max_len=TITLE_MAX_CHARS)
CREATE_SCHEMA: dict[str, Rule] = {
    "title": TITLE,
    "content": RichText(),
    "is_pinned": Boolean(required=False),
    "is_important": Boolean(required=False),
    "attachment_file_ids": FileIds(required=False),
}
UPDATE_SCHEMA: dict[str, Rule] = {
    "title": TITLE,
    "content": RichText(),
    "is_pinned": Boolean(),
    "is_important": Boolean(),
    "attachment_file_ids": FileIds(nullable=True),  # null clears the attachments
}


class NoticesHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        auth = self.require_user()
        arg = self.get_query_argument
        problems = Problems()
        pinned = problems.check(parse_query_bool, arg("pinned", None), "pinned", False)
        important = problems.check(parse_query_bool, arg("important", None), "important", False)
        page = problems.check(parse_page, arg("page", None), arg("limit", None),
                              default_limit=LIST_DEFAULT_LIMIT)
        problems.raise_if_any()
        assert page is not None
        found = await notices.list_notices(study_id, auth.user.id, bool(pinned), bool(important),
                                           page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self, study_id: str) -> None:
        auth = self.require_user()
        await notices.check_access(study_id, auth.user.id, "ST_ADMIN", writable=True)
        fields = self.parse(CREATE_SCHEMA)
        self.created(await notices.create_notice(study_id, auth.user.id, fields))


class NoticeHandler(ApiHandler):
    async def get(self, study_id: str, notice_id: str) -> None:
        auth = self.require_user()
        self.ok(await notices.open_notice(study_id, notice_id, auth.user.id))

    async def patch(self, study_id: str, notice_id: str) -> None:
        auth = self.require_user()
        await notices.check_access(study_id, auth.user.id, "MEMBER", writable=True)
        changes = self.parse(UPDATE_SCHEMA, partial=True)
        self.ok(await notices.update_notice(study_id, notice_id, auth.user.id, changes))

    async def delete(self, study_id: str, notice_id: str) -> None:
        auth = self.require_user()
        await notices.delete_notice(study_id, notice_id, auth.user.id)
        self.ok(None)


class NoticePinHandler(ApiHandler):
    async def post(self, study_id: str, notice_id: str) -> None:
        auth = self.require_user()
        await notices.check_access(study_id, auth.user.id, "ST_ADMIN", writable=True)
        self.parse({}, allow_empty=True)  # no fields; anything sent is an unknown field
        self.ok(await notices.toggle_pin(study_id, notice_id, auth.user.id))
