"""Personal tasks (COUP.md §7.12): a private to-do list, with statistics.

Personal tasks belong to one user and produce no events and no notifications, so writes are
plain transactions. Another user's task is NOT_FOUND, never FORBIDDEN. The invariant
`completed == (status == "DONE")` is kept by every write here; `completed_at` is set when a
task becomes DONE and cleared when it stops being DONE.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from peewee import JOIN, Case, fn

from coup.errors import ApiError, NotFound
from coup.jsonutil import iso, iso_date
from coup.localtime import month_range, week_start
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import db_task, db_transaction
from coup.store.enums import PRIORITY, TASK_STATUS
from coup.store.fields import new_id, utcnow
from coup.store.models import Study, StudyMember, Task
from coup.store.rows import tuple_row, tuple_rows

RECENT_COMPLETED_LIMIT = 5
PRIORITY_RANK = Case(Task.priority, (("URGENT", 0), ("HIGH", 1), ("MEDIUM", 2)), 3)
# SQLite sorts NULL first and PostgreSQL last; this puts tasks without a due date last on both.
NO_DUE_DATE_LAST = Case(None, ((Task.due_date.is_null(), 1),), 0)
SORT_ORDERS: dict[str, tuple[Any, ...]] = {
    "deadline": (NO_DUE_DATE_LAST, Task.due_date.asc(), Task.created_at.desc(), Task.id),
    "priority": (PRIORITY_RANK, NO_DUE_DATE_LAST, Task.due_date.asc(), Task.created_at.desc(),
                 Task.id),
    "created_at": (Task.created_at.desc(), Task.id),
}
# The list filter's words besides the TaskStatus values (§7.12).
COMPLETION_FILTERS = {"incomplete": False, "completed": True}


def personal_task_view(row: Task, study: Study | None) -> dict[str, Any]:
    """The PersonalTask object of §6; a deleted study shows as null."""
    linked = None
    if study is not None and study.status != "DELETED":
        linked = {"id": study.id, "name": study.name, "emoji": study.emoji}
    return {
        "id": row.id,
        "title": row.title,
        "description": row.description,
        "status": row.status,
        "priority": row.priority,
        "due_date": iso_date(row.due_date),
        "completed": row.completed,
        "completed_at": iso(row.completed_at),
        "study": linked,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _tasks_with_studies() -> Any:
    return Task.select(Task, Study).join(Study, JOIN.LEFT_OUTER, on=(Task.study == Study.id))


def _view(task_id: str) -> dict[str, Any]:
    row = _tasks_with_studies().where(Task.id == task_id).get()
    return personal_task_view(row, row.study if row.study_id else None)


def _own(user_id: str, task_id: str) -> Task:
    """The caller's task; another user's task is NOT_FOUND (§7.12)."""
    row = Task.select().where((Task.id == task_id) & (Task.user == user_id)).first()
    if row is None:
        raise NotFound()
    return row


def _require_membership(user_id: str, study_id: str) -> None:
    """A task may link only to a study the owner is an ACTIVE member of (else NOT_MEMBER,
    also for unknown or deleted studies, so the answer says nothing about other studies)."""
    linked = (StudyMember.select(StudyMember.id)
              .join(Study, JOIN.INNER, on=(StudyMember.study == Study.id))
              .where((StudyMember.study == study_id) & (StudyMember.user == user_id)
                     & (StudyMember.status == "ACTIVE") & (Study.status != "DELETED"))
              .exists())
    if not linked:
        raise ApiError("NOT_MEMBER")


def _set_completion(row: Task, status: str) -> None:
    """Apply `status` with its completion fields; a task already DONE keeps its completed_at."""
    if status == "DONE":
        if row.status != "DONE" or row.completed_at is None:
            row.completed_at = utcnow()
    else:
        row.completed_at = None
    row.status, row.completed = status, status == "DONE"


def resolve_status(current: str, status: str | None, completed: bool | None) -> str:
    """The status a PATCH leads to (§7.12); the caller has refused contradictory values.

    DONE or completed=true give DONE; another status gives that status; completed=false alone
    turns DONE into TODO and leaves any other status as it is.
    """
    if status == "DONE" or completed is True:
        return "DONE"
    if status is not None:
        return status
    if completed is False and current == "DONE":
        return "TODO"
    return current


# --- reads ------------------------------------------------------------------------------------


@db_task
def list_tasks(user_id: str, *, study_id: str | None, status: str | None,
               completed: bool | None, sort_by: str,
               page: PageRequest) -> Page[dict[str, Any]]:
    """GET /api/tasks: incomplete first, then by `sort_by`. `status` is a TaskStatus,
    `incomplete` or `completed` (None for all)."""
    query = _tasks_with_studies().where(Task.user == user_id)
    if study_id is not None:
        query = query.where(Task.study == study_id)
    if status in COMPLETION_FILTERS:
        query = query.where(Task.completed == COMPLETION_FILTERS[status])
    elif status is not None:
        query = query.where(Task.status == status)
    if completed is not None:
        query = query.where(Task.completed == completed)
    query = query.order_by(Task.completed.asc(), *SORT_ORDERS[sort_by])
    found = paginate(query, page)
    return Page([personal_task_view(row, row.study if row.study_id else None)
                 for row in found.items], found.total)


@db_task
def load_task(user_id: str, task_id: str) -> dict[str, Any]:
    _own(user_id, task_id)
    return _view(task_id)


@db_task
def task_stats(user_id: str, today: date) -> dict[str, Any]:
    """GET /api/tasks/stats, with `today` the local date in the platform time zone."""
    mine = Task.user == user_id
    by_status = dict.fromkeys(TASK_STATUS, 0)
    for status, count in tuple_rows(Task.select(Task.status, fn.COUNT(Task.id)).where(mine)
                                    .group_by(Task.status)):
        by_status[status] = count
    total = sum(by_status.values())
    completed = Task.select().where(mine & Task.completed).count()
    pending_rows = mine & ~Task.completed & (Task.status != "CANCELLED")
    by_priority = dict.fromkeys(PRIORITY, 0)
    for priority, count in tuple_rows(Task.select(Task.priority, fn.COUNT(Task.id))
                                      .where(pending_rows).group_by(Task.priority)):
        by_priority[priority] = count
    monday = week_start(today)
    first, last = month_range(today)

    def due_between(low: date, high: date) -> Any:
        return fn.SUM(Case(None, (((Task.due_date >= low) & (Task.due_date <= high), 1),), 0))

    pending, due_today, this_week, this_month, overdue = tuple_row(Task.select(
        fn.COUNT(Task.id),
        due_between(today, today),
        due_between(monday, monday + timedelta(days=6)),
        due_between(first, last),
        fn.SUM(Case(None, ((Task.due_date < today, 1),), 0)),
    ).where(pending_rows))
    recent = (Task.select(Task.id, Task.title, Task.completed_at, Task.priority)
              .where(mine & Task.completed)
              .order_by(Task.completed_at.desc(), Task.id).limit(RECENT_COMPLETED_LIMIT))
    return {
        "summary": {
            "total": total,
            "completed": completed,
            "pending": pending,
            # Half up, not Python's half-to-even: 62.5 % shows as 63.
            "completion_rate": int(100 * completed / total + 0.5) if total else 0,
        },
        "timeline": {"today": int(due_today or 0), "this_week": int(this_week or 0),
                     "this_month": int(this_month or 0), "overdue": int(overdue or 0)},
        "by_priority": by_priority,
        "by_status": by_status,
        "recent_completed": [{"id": row.id, "title": row.title,
                              "completed_at": iso(row.completed_at), "priority": row.priority}
                             for row in recent],
    }


# --- writes -----------------------------------------------------------------------------------


@db_transaction
def create_task(user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """POST /api/tasks."""
    if fields.get("study_id") is not None:
        _require_membership(user_id, fields["study_id"])
    now = utcnow()
    row = Task(id=new_id(), user=user_id, study=fields.get("study_id"), title=fields["title"],
               description=fields.get("description"),
               priority=fields.get("priority") or "MEDIUM", due_date=fields.get("due_date"),
               status="TODO", completed=False, created_at=now, updated_at=now)
    _set_completion(row, fields.get("status") or "TODO")
    row.save(force_insert=True)
    return _view(row.id)


@db_transaction
def update_task(user_id: str, task_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH /api/tasks/{id}: the fields given, and the completion rules of §7.12."""
    row = _own(user_id, task_id)
    if changes.get("study_id") is not None:
        _require_membership(user_id, changes["study_id"])
    for name in ("title", "description", "priority", "due_date"):
        if name in changes:
            setattr(row, name, changes[name])
    if "study_id" in changes:
        row.study = changes["study_id"]
    if "status" in changes or "completed" in changes:
        _set_completion(row, resolve_status(row.status, changes.get("status"),
                                            changes.get("completed")))
    row.save()
    return _view(task_id)


@db_transaction
def replace_task(user_id: str, task_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """PUT /api/tasks/{id}: absent fields become null or their default; status is kept."""
    row = _own(user_id, task_id)
    if fields.get("study_id") is not None:
        _require_membership(user_id, fields["study_id"])
    row.title = fields["title"]
    row.description = fields.get("description")
    row.study = fields.get("study_id")
    row.priority = fields.get("priority") or "MEDIUM"
    row.due_date = fields.get("due_date")
    row.save()
    return _view(task_id)


@db_transaction
def delete_task(user_id: str, task_id: str) -> None:
    _own(user_id, task_id).delete_instance()


@db_transaction
def toggle_task(user_id: str, task_id: str) -> dict[str, Any]:
    """PATCH /api/tasks/{id}/toggle: completing gives DONE, un-completing gives TODO."""
    row = _own(user_id, task_id)
    _set_completion(row, "TODO" if row.completed else "DONE")
    row.save()
    return _view(task_id)
