"""Chat over REST (COUP.md §7.7): the same RoomActor, rate limit and events as the WebSocket."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from coup import localtime
from coup.errors import ValidationError
from coup.handlers.base import ApiHandler
from coup.pagination import pagination_view, parse_page
from coup.store import chat as chat_store
from coup.store.chat import MessageDraft
from coup.validation import Problems, parse_query_int

HISTORY_DEFAULT_LIMIT = 50
# The largest seq cursor accepted: seqs are int64 in the store, and this leaves them headroom.
SEQ_MAX = 2**62


class ChatHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        """History by seq cursor (§1 item 8), ascending."""
        auth = self.require_user()
        before = self.get_query_argument("before_seq", None)
        after = self.get_query_argument("after_seq", None)
        problems = Problems()
        if before and after:
            problems.add("before_seq", "send before_seq or after_seq, not both")
        before_seq = problems.check(parse_query_int, before, "before_seq", 0, 0, SEQ_MAX) \
            if before else None
        after_seq = problems.check(parse_query_int, after, "after_seq", 0, 0, SEQ_MAX) \
            if after else None
        limit = problems.check(parse_query_int, self.get_query_argument("limit", None), "limit",
                               HISTORY_DEFAULT_LIMIT, 1, 100)
        problems.raise_if_any()
        assert limit is not None
        latest_seq = await chat_store.check_member(study_id, auth.user.id)
        messages, has_more = await chat_store.history_page(study_id, before_seq, after_seq,
                                                           limit)
        self.ok(messages, pagination={
            "limit": limit, "has_more": has_more,
            "oldest_seq": messages[0]["seq"] if messages else None,
            "newest_seq": messages[-1]["seq"] if messages else None,
            "latest_seq": latest_seq,
        })

    async def post(self, study_id: str) -> None:
        auth = self.require_user()
        await chat_store.check_can_post(study_id, auth.user.id)
        body = self.json_body()
        if not isinstance(body, dict):
            raise ValidationError({"body": "must be a JSON object"})
        problems = Problems()
        for name in sorted(set(body) - {"content", "client_id", "file_id"}):
            problems.add(name, "is not a known field")
        file_id = body.get("file_id")
        if file_id is not None and not isinstance(file_id, str):
            problems.add("file_id", "must be a string")
        content = problems.check(chat_store.clean_content, body.get("content"),
                                 has_file=bool(file_id))
        client_id = problems.check(chat_store.check_client_id, body.get("client_id"))
        problems.raise_if_any()
        assert content is not None
        outcome = await self.services.realtime.post_chat(study_id, MessageDraft(
            auth.user.id, content, client_id or str(uuid.uuid4()), file_id or None))
        self.ok(outcome.message, status=201 if outcome.created else 200)


class ChatMessageHandler(ApiHandler):
    async def patch(self, study_id: str, message_id: str) -> None:
        auth = self.require_user()
        body = self.json_body()
        if not isinstance(body, dict) or set(body) - {"content"}:
            raise ValidationError({name: "is not a known field"
                                   for name in (set(body) - {"content"} if isinstance(body, dict)
                                                else {"body"})})
        view = await chat_store.edit_message(study_id, message_id, auth.user.id,
                                             body.get("content"))
        self.ok(view)

    async def delete(self, study_id: str, message_id: str) -> None:
        auth = self.require_user()
        await chat_store.delete_message(study_id, message_id, auth.user.id)
        self.ok(None)


class ChatReadHandler(ApiHandler):
    async def post(self, study_id: str, message_id: str) -> None:
        auth = self.require_user()
        self.json_body(allow_empty=True)
        seq = await chat_store.message_seq(study_id, message_id, auth.user.id)
        moved = await chat_store.move_read_cursor(study_id, auth.user.id, seq)
        await self.services.realtime.cursor_moved(study_id, auth.user.id, moved)
        self.ok({"last_read_seq": moved.last_read_seq, "unread_messages": moved.unread_messages})


class ReadCursorsHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        auth = self.require_user()
        await chat_store.check_member(study_id, auth.user.id)
        self.ok(await chat_store.read_cursors(study_id))


class ChatSearchHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        auth = self.require_user()
        problems = Problems()
        q = (self.get_query_argument("q", "") or "").strip()
        if len(q) > 100:
            problems.add("q", "must be at most 100 characters")
        start = _query_date(self.get_query_argument("start_date", None), "start_date", problems)
        end = _query_date(self.get_query_argument("end_date", None), "end_date", problems)
        if start and end and start > end:
            problems.add("start_date", "must not be after end_date")
        user_id = self.get_query_argument("user_id", None) or None
        page = problems.check(parse_page, self.get_query_argument("page", None),
                              self.get_query_argument("limit", None), default_limit=20)
        problems.raise_if_any()
        assert page is not None
        await chat_store.check_member(study_id, auth.user.id)
        tz = self.services.settings.tz
        start_utc = localtime.day_start_utc(start, tz) if start else None
        end_utc = localtime.day_start_utc(end + timedelta(days=1), tz) if end else None
        rows, total = await chat_store.search_messages(study_id, q or None, start_utc, end_utc,
                                                       user_id, page.page, page.limit)
        self.ok(rows, pagination=pagination_view(page, total))


def _query_date(raw: str | None, name: str, problems: Problems) -> date | None:
    if not raw:
        return None
    try:
        return localtime.parse_date(raw)
    except ValueError as exc:
        problems.add(name, str(exc))
        return None
