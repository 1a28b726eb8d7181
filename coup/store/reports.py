"""User-facing reports (COUP.md §7.17): file a report on a user, study or message; list mine.

A target the reporter may not see is NOT_FOUND, exactly as if it did not exist, so reporting
cannot be used to probe for private studies or other studies' messages. The per-user limit
counts the reporter's rows in the database rather than a node-local counter, so it holds across
nodes and restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from coup.errors import ApiError, NotFound, RateLimited
from coup.jsonutil import iso
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import db_task, db_transaction, is_postgres
from coup.store.fields import new_id, utcnow
from coup.store.models import Message, Report, Study, StudyMember, User

# reports.target_name is str(100): the cached name, or the start of a reported message.
TARGET_NAME_MAX_CHARS = 100
# Reports the reporter may still act on; a closed one does not block a new report (§10.3).
OPEN_STATUSES = ("PENDING", "IN_PROGRESS")
# Memberships that let the caller see a private or hidden study (§7.3 detail visibility).
VISIBLE_MEMBER_STATUSES = ("ACTIVE", "PENDING")


@dataclass(frozen=True)
class NewReport:
    """A validated `POST /api/reports` body."""

    target_type: str  # USER, STUDY or MESSAGE
    target_id: str
    type: str  # ReportType
    reason: str
    evidence: dict[str, Any] | None


@dataclass(frozen=True)
class Target:
    """A reportable target as the reporter sees it."""

    name: str | None
    owner_id: str | None  # the reported user, or the message's author; None for a study
    snapshot: dict[str, Any] | None = None  # MESSAGE only


def report_view(report: Report) -> dict[str, Any]:
    """What the reporter sees of a report: never the evidence, the resolution or the admins."""
    return {
        "id": report.id,
        "target_type": report.target_type,
        "target_id": report.target_id,
        "target_name": report.target_name,
        "type": report.type,
        "status": report.status,
        "created_at": iso(report.created_at),
    }


def my_report_view(report: Report) -> dict[str, Any]:
    return {**report_view(report), "processed_at": iso(report.processed_at)}


# --- targets ----------------------------------------------------------------------------------


def find_user_target(user_id: str) -> Target:
    user = User.select(User.id, User.name, User.status).where(User.id == user_id).first()
    if user is None or user.status == "DELETED":
        raise NotFound()
    return Target(user.name, user.id)


def find_study_target(study_id: str, reporter_id: str) -> Target:
    """A study the reporter can see as in `GET /api/studies/{id}` (without an invite code)."""
    study = Study.select(Study.id, Study.name, Study.status, Study.is_public,
                         Study.is_hidden).where(Study.id == study_id).first()
    if study is None or study.status == "DELETED":
        raise NotFound()
    if not study.is_public or study.is_hidden:
        member = StudyMember.select(StudyMember.id).where(
            (StudyMember.study == study.id) & (StudyMember.user == reporter_id)
            & StudyMember.status.in_(VISIBLE_MEMBER_STATUSES)).first()
        if member is None:
            raise NotFound()
    return Target(study.name, None)


def find_message_target(message_id: str, reporter_id: str) -> Target:
    """A live message in a study where the reporter is an ACTIVE member."""
    message = (Message.select(Message.id, Message.study, Message.user, Message.content,
                              Message.created_at)
               .join(Study, on=(Message.study == Study.id))
               .join(StudyMember, on=((StudyMember.study == Study.id)
                                      & (StudyMember.user == reporter_id)))
               .where((Message.id == message_id) & Message.deleted_at.is_null()
                      & (Study.status != "DELETED") & (StudyMember.status == "ACTIVE"))
               .first())
    if message is None:
        raise NotFound()
    snapshot = {"content": message.content, "user_id": message.user_id,
                "study_id": message.study_id, "created_at": iso(message.created_at)}
    return Target(message.content[:TARGET_NAME_MAX_CHARS] or None, message.user_id, snapshot)


def find_target(target_type: str, target_id: str, reporter_id: str) -> Target:
    if target_type == "USER":
        return find_user_target(target_id)
    if target_type == "STUDY":
        return find_study_target(target_id, reporter_id)
    return find_message_target(target_id, reporter_id)


# --- filing -----------------------------------------------------------------------------------


def lock_reporter(reporter_id: str) -> None:
    """Serialise one user's report filing, so two concurrent requests cannot both pass the
    open-report and the 24-hour checks (§1 item 16). SQLite has a single writer already."""
    if is_postgres():
        User.select(User.id).where(User.id == reporter_id).for_update().first()


def check_report_rate(reporter_id: str, limit: int, window_seconds: float) -> None:
    """RATE_LIMITED once the reporter filed `limit` reports inside the window; the wait runs
    until the oldest of the newest `limit` leaves it."""
    now = utcnow()
    window = timedelta(seconds=window_seconds)
    recent = (Report.select(Report.created_at)
              .where((Report.reporter == reporter_id) & (Report.created_at > now - window))
              .order_by(Report.created_at.desc())
              .limit(limit))
    times = [row.created_at for row in recent]
    if len(times) >= limit:
        raise RateLimited((times[-1] + window - now).total_seconds())


def check_no_open_report(reporter_id: str, target_type: str, target_id: str) -> None:
    exists = Report.select(Report.id).where(
        (Report.reporter == reporter_id) & (Report.target_type == target_type)
        & (Report.target_id == target_id) & Report.status.in_(OPEN_STATUSES)).exists()
    if exists:
        raise ApiError("REPORT_EXISTS")


@db_transaction
def file_report(reporter_id: str, report: NewReport, *, limit: int,
                window_seconds: float) -> dict[str, Any]:
    """Check in this order: the limit, the target, yourself, an open report; then store it."""
    lock_reporter(reporter_id)
    check_report_rate(reporter_id, limit, window_seconds)
    target = find_target(report.target_type, report.target_id, reporter_id)
    if target.owner_id == reporter_id:
        raise ApiError("CANNOT_REPORT_SELF")
    check_no_open_report(reporter_id, report.target_type, report.target_id)
    evidence = report.evidence
    if target.snapshot is not None:
        # The server's copy wins over anything the reporter put under the same key, so admins
        # see the message as it was even if it is edited or deleted later.
        evidence = {**(evidence or {}), "message_snapshot": target.snapshot}
    now = utcnow()
    row = Report.create(
        id=new_id(), reporter=reporter_id, target_type=report.target_type,
        target_id=report.target_id, target_name=target.name, type=report.type,
        reason=report.reason, evidence=evidence, status="PENDING", priority="MEDIUM",
        created_at=now, updated_at=now,
    )
    return report_view(row)


@db_task
def list_my_reports(reporter_id: str, page: PageRequest) -> Page[dict[str, Any]]:
    query = (Report.select(Report.id, Report.target_type, Report.target_id, Report.target_name,
                           Report.type, Report.status, Report.created_at, Report.processed_at)
             .where(Report.reporter == reporter_id)
             .order_by(Report.created_at.desc(), Report.id.desc()))
    found = paginate(query, page)
    return Page([my_report_view(row) for row in found.items], found.total)
