"""Study tasks, the kanban board (COUP.md §7.11), with their durable events (§9.2).

A task and its assignee rows are always written in one `@db_write` transaction that locks the
study first (§1 item 16). Assignees must be ACTIVE members when they are assigned; TASK
notifications go to newly assigned members, never to the actor (§8.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from peewee import JOIN, Case

from coup.errors import ApiError, Forbidden, NotFound, ValidationError
from coup.jsonutil import iso, iso_date
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import db_task
from coup.store.events import append_event, db_write, lock_study
from coup.store.fields import new_id, utcnow
from coup.store.models import Study, StudyMember, StudyTask, StudyTaskAssignee, User
from coup.store.notifications import notify, render
from coup.store.study_access import StudyAccess, access_study
from coup.store.views import user_summary

# The status transition table of §7.11; keeping the current status is always allowed.
TRANSITIONS: dict[str, frozenset[str]] = {
    "TODO": frozenset({"IN_PROGRESS", "CANCELLED"}),
    "IN_PROGRESS": frozenset({"REVIEW", "DONE", "TODO", "CANCELLED"}),
    "REVIEW": frozenset({"DONE", "IN_PROGRESS", "TODO"}),
    "DONE": frozenset({"TODO"}),
    "CANCELLED": frozenset({"TODO"}),
}
# Board order (§7.11): status in workflow order, then URGENT first.
STATUS_RANK = Case(StudyTask.status, (("TODO", 0), ("IN_PROGRESS", 1), ("REVIEW", 2),
                                      ("DONE", 3)), 4)
PRIORITY_RANK = Case(StudyTask.priority, (("URGENT", 0), ("HIGH", 1), ("MEDIUM", 2)), 3)
# SQLite sorts NULL first and PostgreSQL last; this puts tasks without a due date last on both.
NO_DUE_DATE_LAST = Case(None, ((StudyTask.due_date.is_null(), 1),), 0)
ASSIGNEES_INVALID = "must list ACTIVE members of the study"


def check_transition(current: str, new: str) -> None:
    if new != current and new not in TRANSITIONS[current]:
        raise ApiError("INVALID_TRANSITION")


def task_view(row: StudyTask, creator: User, assignees: Sequence[User]) -> dict[str, Any]:
    """The StudyTask object of §6, from rows loaded beforehand (no lazy loads)."""
    return {
        "id": row.id,
        "study_id": row.study_id,
        "title": row.title,
        "description": row.description,
        "status": row.status,
        "priority": row.priority,
        "due_date": iso_date(row.due_date),
        "completed_at": iso(row.completed_at),
        "created_by": user_summary(creator),
        "assignees": [user_summary(user) for user in assignees],
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _tasks_with_creators() -> Any:
    return StudyTask.select(StudyTask, User).join(
        User, JOIN.INNER, on=(StudyTask.created_by == User.id))


def _assignees_of(task_ids: Iterable[str]) -> dict[str, list[User]]:
    """Each task's assignees, in the order they were assigned, for many tasks in one query."""
    ids = list(task_ids)
    found: dict[str, list[User]] = {task_id: [] for task_id in ids}
    if not ids:
        return found
    rows = (StudyTaskAssignee.select(StudyTaskAssignee.task, User)
            .join(User, JOIN.INNER, on=(StudyTaskAssignee.user == User.id))
            .where(StudyTaskAssignee.task.in_(ids))
            .order_by(StudyTaskAssignee.assigned_at, StudyTaskAssignee.id))
    for row in rows:
        found[row.task_id].append(row.user)
    return found


def _view_of(row: StudyTask) -> dict[str, Any]:
    return task_view(row, row.created_by, _assignees_of([row.id])[row.id])


def _load(study_id: str, task_id: str) -> StudyTask:
    """The task with its creator; NOT_FOUND when missing or in another study (§3.1)."""
    row = (_tasks_with_creators()
           .where((StudyTask.id == task_id) & (StudyTask.study == study_id)).first())
    if row is None:
        raise NotFound()
    return row


def _assignee_ids(task_id: str) -> list[str]:
    return [row.user_id for row in StudyTaskAssignee.select(StudyTaskAssignee.user)
            .where(StudyTaskAssignee.task == task_id)]


def _require_active_members(study_id: str, user_ids: Sequence[str]) -> None:
    """VALIDATION_ERROR on `assignee_ids` unless every id is an ACTIVE member (§7.11)."""
    if not user_ids:
        return
    active = {row.user_id for row in StudyMember.select(StudyMember.user).where(
        (StudyMember.study == study_id) & (StudyMember.status == "ACTIVE")
        & StudyMember.user.in_(list(user_ids)))}
    if any(user_id not in active for user_id in user_ids):
        raise ValidationError({"assignee_ids": ASSIGNEES_INVALID})


def _assign(task_id: str, user_ids: Sequence[str], actor_id: str) -> None:
    if not user_ids:
        return
    now = utcnow()
    StudyTaskAssignee.insert_many([
        {"id": new_id(), "task": task_id, "user": user_id, "assigned_by": actor_id,
         "assigned_at": now}
        for user_id in user_ids
    ]).execute()


def _notify_assigned(study: Study, task: StudyTask, user_ids: Sequence[str],
                     actor_id: str) -> None:
    notify(user_ids, "TASK", render("task", title=task.title), study=study,
           actor_id=actor_id, data={"task_id": task.id})


def _access_task(study_id: str, task_id: str, user_id: str, *,
                 assignee_may: bool) -> tuple[StudyAccess, StudyTask]:
    """Lock the study; MEMBER access; the task; then creator, ST-ADMIN, or (when
    `assignee_may`) an assignee (§3.4)."""
    access = access_study(study_id, user_id, study=lock_study(study_id))
    row = _load(study_id, task_id)
    allowed = access.is_st_admin or row.created_by_id == user_id
    if not allowed and assignee_may:
        allowed = user_id in _assignee_ids(task_id)
    if not allowed:
        raise Forbidden()
    return access, row


def _set_status(row: StudyTask, status: str) -> None:
    """Move through the transition table; entering DONE stamps completed_at, leaving clears."""
    check_transition(row.status, status)
    if status == row.status:
        return
    row.completed_at = utcnow() if status == "DONE" else None
    row.status = status


# --- reads ------------------------------------------------------------------------------------


@db_task
def list_tasks(study_id: str, user_id: str, *, status: str | None, assignee: str | None,
               priority: str | None, page: PageRequest) -> Page[dict[str, Any]]:
    """GET …/tasks: filtered, in board order, one page with its assignees in one query."""
    access_study(study_id, user_id)
    query = _tasks_with_creators().where(StudyTask.study == study_id)
    if status is not None:
        query = query.where(StudyTask.status == status)
    if priority is not None:
        query = query.where(StudyTask.priority == priority)
    if assignee is not None:
        query = query.where(StudyTask.id.in_(
            StudyTaskAssignee.select(StudyTaskAssignee.task)
            .where(StudyTaskAssignee.user == assignee)))
    query = query.order_by(STATUS_RANK, PRIORITY_RANK, NO_DUE_DATE_LAST,
                           StudyTask.due_date.asc(), StudyTask.created_at.desc(),
                           StudyTask.id)
    found = paginate(query, page)
    assignees = _assignees_of(row.id for row in found.items)
    return Page([task_view(row, row.created_by, assignees[row.id]) for row in found.items],
                found.total)


@db_task
def load_task(study_id: str, task_id: str, user_id: str) -> dict[str, Any]:
    """GET …/tasks/{task_id}."""
    access_study(study_id, user_id)
    return _view_of(_load(study_id, task_id))


# --- writes -----------------------------------------------------------------------------------


@db_write
def create_task(study_id: str, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """POST …/tasks (ST-ADMIN): the task and its assignees in one transaction."""
    access = access_study(study_id, user_id, "ST_ADMIN", writable=True,
                          study=lock_study(study_id))
    assignee_ids: list[str] = fields.get("assignee_ids") or []
    _require_active_members(study_id, assignee_ids)
    status = fields.get("status") or "TODO"
    now = utcnow()
    row = StudyTask.create(
        id=new_id(), study=study_id, created_by=user_id, title=fields["title"],
        description=fields.get("description"), status=status,
        priority=fields.get("priority") or "MEDIUM", due_date=fields.get("due_date"),
        completed_at=now if status == "DONE" else None, created_at=now, updated_at=now,
    )
    _assign(row.id, assignee_ids, user_id)
    view = task_view(row, User.get_by_id(user_id), _assignees_of([row.id])[row.id])
    append_event(study_id, "task:created", {"task": view})
    _notify_assigned(access.study, row, assignee_ids, user_id)
    return view


@db_write
def update_task(study_id: str, task_id: str, user_id: str,
                changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH …/tasks/{task_id} and …/status (creator, assignee or ST-ADMIN)."""
    access, row = _access_task(study_id, task_id, user_id, assignee_may=True)
    if access.study.status == "CLOSED":
        raise ApiError("STUDY_CLOSED")
    replacing = "assignee_ids" in changes
    wanted: list[str] = changes.get("assignee_ids") or []
    current = set(_assignee_ids(task_id)) if replacing else set()
    added = [uid for uid in wanted if uid not in current]
    if replacing:
        # Only new assignees must be ACTIVE; those kept were checked when assigned.
        _require_active_members(study_id, added)
    if "status" in changes:
        _set_status(row, changes["status"])
    for name in ("title", "description", "priority", "due_date"):
        if name in changes:
            setattr(row, name, changes[name])
    row.save()
    if replacing:
        removed = current - set(wanted)
        if removed:
            StudyTaskAssignee.delete().where((StudyTaskAssignee.task == task_id)
                                             & StudyTaskAssignee.user.in_(list(removed))
                                             ).execute()
        _assign(task_id, added, user_id)
    view = _view_of(row)
    append_event(study_id, "task:updated", {"task": view})
    _notify_assigned(access.study, row, added, user_id)
    return view


@db_write
def delete_task(study_id: str, task_id: str, user_id: str) -> None:
    """DELETE …/tasks/{task_id} (creator or ST-ADMIN); allowed in a CLOSED study (§10.2).

    The assignee rows go with the task (ON DELETE CASCADE, deleted explicitly as well so the
    result does not depend on SQLite's foreign_keys pragma).
    """
    _, row = _access_task(study_id, task_id, user_id, assignee_may=False)
    StudyTaskAssignee.delete().where(StudyTaskAssignee.task == task_id).execute()
    row.delete_instance()
    append_event(study_id, "task:deleted", {"task_id": task_id})
