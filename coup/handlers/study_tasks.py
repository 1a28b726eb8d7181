"""Study tasks, the kanban board (COUP.md §7.11): list, create, read, edit, move, delete.

Input is validated here (due dates "today or later" in the platform time zone); access, the
transition table and the assignee rules are decided by `coup.store.study_tasks` under the
study lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from coup import localtime
from coup.handlers.base import ApiHandler
from coup.localtime import Day
from coup.pagination import pagination_view, parse_page
from coup.store import study_tasks as task_store
from coup.store.enums import PRIORITY, TASK_STATUS
from coup.validation import Choice, FieldInvalid, Problems, Rule, Text, parse_fields, query_choice

MAX_ASSIGNEES = 20
# Ids are looked up, not parsed (§1 item 3); this only bounds the size of the body.
MAX_ID_CHARS = 64


@dataclass(frozen=True)
class AssigneeIds(Rule):
    """Up to 20 distinct user ids; null means none."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise FieldInvalid("must be a list of user ids")
        if len(value) > MAX_ASSIGNEES:
            raise FieldInvalid(f"must have at most {MAX_ASSIGNEES} items")
        if any(not isinstance(item, str) or not 1 <= len(item) <= MAX_ID_CHARS
               for item in value):
            raise FieldInvalid("must be a list of user ids")
        if len(set(value)) != len(value):
            raise FieldInvalid("must not repeat a user id")
        return list(value)


TITLE = Text(min_len=2, max_len=100)
DESCRIPTION = Text(required=False, nullable=True, max_len=1000, multiline=True)
CREATE_SCHEMA: dict[str, Rule] = {
    "title": TITLE,
    "description": DESCRIPTION,
    "status": Choice(required=False, nullable=True, values=TASK_STATUS),
    "priority": Choice(required=False, nullable=True, values=PRIORITY),
    "due_date": Day(required=False, nullable=True),
    "assignee_ids": AssigneeIds(required=False, nullable=True),
}
UPDATE_SCHEMA: dict[str, Rule] = {
    "title": TITLE,
    "description": DESCRIPTION,
    "status": Choice(values=TASK_STATUS),
    "priority": Choice(values=PRIORITY),
    "due_date": Day(required=False, nullable=True),
    "assignee_ids": AssigneeIds(required=False, nullable=True),
}
STATUS_SCHEMA: dict[str, Rule] = {"status": Choice(values=TASK_STATUS)}


def parse_task_fields(body: Any, schema: Mapping[str, Rule], today: date, *,
                      partial: bool = False) -> dict[str, Any]:
    """The body's fields, and a supplied due date today or later; every failing field at
    once."""
    problems = Problems()
    data = parse_fields(body, schema, problems, partial=partial)
    due = data.get("due_date")
    if due is not None and due < today:
        problems.add("due_date", "must be today or later")
    problems.raise_if_any()
    return data


class StudyTasksHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        user_id = self.user_id
        arg = self.get_query_argument
        problems = Problems()
        status = problems.check(query_choice, arg("status", None), "status",
                                (*TASK_STATUS, "all"))
        priority = problems.check(query_choice, arg("priority", None), "priority", PRIORITY)
        assignee = arg("assignee", None) or None
        page = problems.check(parse_page, arg("page", None), arg("limit", None))
        problems.raise_if_any()
        assert page is not None
        found = await task_store.list_tasks(
            study_id, user_id, status=None if status == "all" else status,
            assignee=user_id if assignee == "me" else assignee, priority=priority, page=page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    async def post(self, study_id: str) -> None:
        user_id = self.user_id
        data = parse_task_fields(self.json_body(), CREATE_SCHEMA,
                                 localtime.today(self.services.settings.tz))
        self.created(await task_store.create_task(study_id, user_id, data))


class StudyTaskHandler(ApiHandler):
    async def get(self, study_id: str, task_id: str) -> None:
        user_id = self.user_id
        self.ok(await task_store.load_task(study_id, task_id, user_id))

    async def patch(self, study_id: str, task_id: str) -> None:
        user_id = self.user_id
        data = parse_task_fields(self.json_body(), UPDATE_SCHEMA,
                                 localtime.today(self.services.settings.tz), partial=True)
        self.ok(await task_store.update_task(study_id, task_id, user_id, data))

    async def delete(self, study_id: str, task_id: str) -> None:
        user_id = self.user_id
        await task_store.delete_task(study_id, task_id, user_id)
        self.ok(None)


class StudyTaskStatusHandler(ApiHandler):
    async def patch(self, study_id: str, task_id: str) -> None:
        user_id = self.user_id
        data = self.parse(STATUS_SCHEMA)
        self.ok(await task_store.update_task(study_id, task_id, user_id, data))
