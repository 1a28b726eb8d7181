"""Personal tasks (COUP.md §7.12): the caller's own to-do list and its statistics.

Every endpoint is USER level and works on the caller's tasks only; the store answers
NOT_FOUND for anyone else's task.
"""

from __future__ import annotations

from typing import Any

from coup import localtime
from coup.handlers.base import ApiHandler
from coup.localtime import Day
from coup.pagination import pagination_view, parse_page
from coup.store import personal_tasks as task_store
from coup.store.enums import PRIORITY, TASK_STATUS
from coup.validation import (
    Boolean,
    Choice,
    Problems,
    Rule,
    Text,
    parse_fields,
    parse_query_bool,
    query_choice,
)

TITLE = Text(min_len=1, max_len=100)
DESCRIPTION = Text(required=False, nullable=True, max_len=1000, multiline=True)
# Ids are looked up, not parsed (§1 item 3); this only bounds the size of the body.
STUDY_ID = Text(required=False, nullable=True, max_len=64)
OPTIONAL_PRIORITY = Choice(required=False, nullable=True, values=PRIORITY)
OPTIONAL_DUE_DATE = Day(required=False, nullable=True)

CREATE_SCHEMA: dict[str, Rule] = {
    "title": TITLE,
    "description": DESCRIPTION,
    "study_id": STUDY_ID,
    "status": Choice(required=False, nullable=True, values=TASK_STATUS),
    "priority": OPTIONAL_PRIORITY,
    "due_date": OPTIONAL_DUE_DATE,
}
UPDATE_SCHEMA: dict[str, Rule] = {
    "title": TITLE,
    "description": DESCRIPTION,
    "study_id": STUDY_ID,
    "status": Choice(values=TASK_STATUS),
    "priority": Choice(values=PRIORITY),
    "due_date": OPTIONAL_DUE_DATE,
    "completed": Boolean(),
}
# PUT replaces these five; status and completion are not part of it.
REPLACE_SCHEMA: dict[str, Rule] = {
    "title": TITLE,
    "description": DESCRIPTION,
    "study_id": STUDY_ID,
    "priority": OPTIONAL_PRIORITY,
    "due_date": OPTIONAL_DUE_DATE,
}
STATUS_FILTERS = (*TASK_STATUS, "all", "incomplete", "completed")
SORT_KEYS = ("deadline", "priority", "created_at")


def parse_update(body: Any) -> dict[str, Any]:
    """PATCH fields; `status` and `completed` must agree when both are sent (§7.12). Every
    failing field at once."""
    problems = Problems()
    data = parse_fields(body, UPDATE_SCHEMA, problems, partial=True)
    status, completed = data.get("status"), data.get("completed")
    if status is not None and completed is not None and (status == "DONE") != completed:
        problems.add("completed", f"contradicts status {status}")
    problems.raise_if_any()
    return data


class TasksHandler(ApiHandler):
    async def get(self) -> None:
        user_id = self.user_id
        arg = self.get_query_argument
        problems = Problems()
        values: dict[str, Any] = {
            "status": problems.check(query_choice, arg("status", None), "status",
                                     STATUS_FILTERS, "all"),
            "sort_by": problems.check(query_choice, arg("sort_by", None), "sort_by", SORT_KEYS,
                                      "deadline"),
            "completed": problems.check(parse_query_bool, arg("completed", None), "completed",
                                        None),
        }
        page = problems.check(parse_page, arg("page", None), arg("limit", None))
        problems.raise_if_any()
        assert page is not None
        found = await task_store.list_tasks(
            user_id, study_id=self.get_query_argument("study_id", None) or None,
            status=None if values["status"] == "all" else values["status"],
            completed=values["completed"], sort_by=values["sort_by"], page=page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self) -> None:
        user_id = self.user_id
        data = self.parse(CREATE_SCHEMA)
        self.created(await task_store.create_task(user_id, data))


class TaskStatsHandler(ApiHandler):
    async def get(self) -> None:
        user_id = self.user_id
        self.ok(await task_store.task_stats(user_id, localtime.today(self.services.settings.tz)))


class TaskHandler(ApiHandler):
    async def get(self, task_id: str) -> None:
        user_id = self.user_id
        self.ok(await task_store.load_task(user_id, task_id))

    async def patch(self, task_id: str) -> None:
        user_id = self.user_id
        data = parse_update(self.json_body())
        self.ok(await task_store.update_task(user_id, task_id, data))

    async def put(self, task_id: str) -> None:
        user_id = self.user_id
        data = self.parse(REPLACE_SCHEMA)
        self.ok(await task_store.replace_task(user_id, task_id, data))

    async def delete(self, task_id: str) -> None:
        user_id = self.user_id
        await task_store.delete_task(user_id, task_id)
        self.ok(None)


class TaskToggleHandler(ApiHandler):
    async def patch(self, task_id: str) -> None:
        user_id = self.user_id
        self.parse({}, allow_empty=True)
        self.ok(await task_store.toggle_task(user_id, task_id))
