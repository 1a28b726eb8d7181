"""Daily attendance check-ins with streaks (COUP.md §7.13).

A check-in is one row per user, study and local date (platform time zone). Its `streak` is
yesterday's streak + 1 when the user checked in to that study yesterday, else 1, so the
current streak is read from at most two rows and the longest is the highest stored value.
Check-ins produce no events and no notifications (§9.2), so writes are plain transactions;
the unique index on (study, user, date) makes a concurrent double check-in a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta, tzinfo
from typing import Any

from peewee import JOIN, fn

from coup.jsonutil import iso, iso_date
from coup.localtime import local_date
from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import Attendance, Study, StudyMember, User
from coup.store.rows import tuple_rows
from coup.store.study_access import access_study, active_count
from coup.store.views import user_summary


def rate(part: int, whole: int) -> int:
    """An integer percentage, rounded half up (62.5 % shows as 63); 0 when `whole` is 0."""
    return int(100 * part / whole + 0.5) if whole else 0


def current_streaks(study_id: str, user_ids: Sequence[str], today: date) -> dict[str, int]:
    """Today's streak if checked in today, else yesterday's, else 0, for each user."""
    found = dict.fromkeys(user_ids, 0)
    if not user_ids:
        return found
    yesterday = today - timedelta(days=1)
    latest: dict[str, date] = {}
    for row in Attendance.select(Attendance.user, Attendance.date, Attendance.streak).where(
            (Attendance.study == study_id) & Attendance.user.in_(list(user_ids))
            & Attendance.date.in_([today, yesterday])):
        if row.user_id not in latest or row.date > latest[row.user_id]:
            latest[row.user_id] = row.date
            found[row.user_id] = row.streak
    return found


def longest_streaks(study_id: str, user_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(longest streak, days checked in) for each user, over all of the study's history."""
    found = dict.fromkeys(user_ids, (0, 0))
    if not user_ids:
        return found
    for user_id, longest, days in tuple_rows(
            Attendance.select(Attendance.user, fn.MAX(Attendance.streak),
                              fn.COUNT(Attendance.id))
            .where((Attendance.study == study_id) & Attendance.user.in_(list(user_ids)))
            .group_by(Attendance.user)):
        found[user_id] = (longest or 0, days)
    return found


# --- check-in ---------------------------------------------------------------------------------


def _check_in_study(study: Study, user_id: str, today: date) -> dict[str, Any]:
    """Check in to one study today, or report the existing check-in."""
    row = Attendance.select().where((Attendance.study == study.id) & (Attendance.user == user_id)
                                    & (Attendance.date == today)).first()
    already = row is not None
    if row is None:
        yesterday = (Attendance.select(Attendance.streak)
                     .where((Attendance.study == study.id) & (Attendance.user == user_id)
                            & (Attendance.date == today - timedelta(days=1))).first())
        # A concurrent check-in of the same user may win the unique index; then ours is
        # ignored and theirs is read back below.
        created_id = new_id()
        Attendance.insert(id=created_id, study=study.id, user=user_id, date=today,
                          checked_in_at=utcnow(),
                          streak=yesterday.streak + 1 if yesterday else 1
                          ).on_conflict_ignore().execute()
        row = Attendance.get((Attendance.study == study.id) & (Attendance.user == user_id)
                             & (Attendance.date == today))
        already = row.id != created_id
    return {"study_id": study.id, "study_name": study.name, "study_emoji": study.emoji,
            "checked_in_at": iso(row.checked_in_at), "streak": row.streak,
            "already_checked_in": already}


def _open_studies(user_id: str) -> list[Study]:
    """Studies the user may check in to: ACTIVE membership, ACTIVE (not CLOSED) study."""
    return list(Study.select(Study)
                .join(StudyMember, JOIN.INNER, on=(StudyMember.study == Study.id))
                .where((StudyMember.user == user_id) & (StudyMember.status == "ACTIVE")
                       & (Study.status == "ACTIVE"))
                .order_by(StudyMember.joined_at, Study.id))


def _checked_in_today(user_id: str, study_ids: Iterable[str], today: date) -> int:
    ids = list(study_ids)
    if not ids:
        return 0
    return Attendance.select().where((Attendance.user == user_id) & (Attendance.date == today)
                                     & Attendance.study.in_(ids)).count()


@db_transaction
def check_in(user_id: str, study_id: str | None, today: date) -> dict[str, Any]:
    """POST /api/attendance/check-in: one study (MEMBER access, not CLOSED) or all of them.

    `total_studies` counts the studies the caller can check in to; `attended_studies` and
    `already_attended` count those checked in today after and before this call.
    """
    target = access_study(study_id, user_id, writable=True).study if study_id else None
    studies = _open_studies(user_id)
    targets = [target] if target is not None else studies
    open_ids = [study.id for study in studies]
    before = _checked_in_today(user_id, open_ids, today)
    results = [_check_in_study(study, user_id, today) for study in targets]
    return {
        "date": iso_date(today),
        "results": results,
        "attended_studies": _checked_in_today(user_id, open_ids, today),
        "total_studies": len(open_ids),
        "already_attended": before,
    }


# --- reads ------------------------------------------------------------------------------------


@db_task
def day_attendance(study_id: str, user_id: str, day: date, today: date) -> dict[str, Any]:
    """GET /api/studies/{id}/attendance: who checked in on `day`, and the caller's record."""
    access_study(study_id, user_id)
    rows = (Attendance.select(Attendance, User)
            .join(User, JOIN.INNER, on=(Attendance.user == User.id))
            .where((Attendance.study == study_id) & (Attendance.date == day))
            .order_by(Attendance.checked_in_at, Attendance.id))
    checked_in = [{"user": user_summary(row.user), "checked_in_at": iso(row.checked_in_at),
                   "streak": row.streak} for row in rows]
    longest, total_days = longest_streaks(study_id, [user_id])[user_id]
    today_row = Attendance.select(Attendance.id).where(
        (Attendance.study == study_id) & (Attendance.user == user_id)
        & (Attendance.date == today)).exists()
    return {
        "date": iso_date(day),
        "checked_in": checked_in,
        "checked_in_count": len(checked_in),
        "member_count": active_count(study_id),
        "me": {"checked_in_today": today_row,
               "current_streak": current_streaks(study_id, [user_id], today)[user_id],
               "longest_streak": longest, "total_days": total_days},
    }


@db_task
def attendance_stats(study_id: str, user_id: str, start: date, end: date, today: date,
                     tz: tzinfo) -> list[dict[str, Any]]:
    """GET …/attendance/stats: every ACTIVE member for ST-ADMINs, else the caller's row.

    A member's eligible days are the days of the range on or after the local date they
    joined and not after today; only check-ins on those days count towards the rate.
    """
    access = access_study(study_id, user_id)
    query = (StudyMember.select(StudyMember, User)
             .join(User, JOIN.INNER, on=(StudyMember.user == User.id))
             .where((StudyMember.study == study_id) & (StudyMember.status == "ACTIVE")))
    if not access.is_st_admin:
        query = query.where(StudyMember.user == user_id)
    members = list(query)
    user_ids = [m.user_id for m in members]
    last = min(end, today)
    windows = {m.user_id: (max(start, local_date(m.joined_at or m.created_at, tz)), last)
               for m in members}
    attended = dict.fromkeys(user_ids, 0)
    if user_ids and start <= last:
        for member_id, day in tuple_rows(
                Attendance.select(Attendance.user, Attendance.date)
                .where((Attendance.study == study_id) & Attendance.user.in_(user_ids)
                       & (Attendance.date >= start) & (Attendance.date <= last))):
            low, high = windows[member_id]
            if low <= day <= high:
                attended[member_id] += 1
    current = current_streaks(study_id, user_ids, today)
    longest = longest_streaks(study_id, user_ids)
    rows: list[dict[str, Any]] = []
    for member in members:
        low, high = windows[member.user_id]
        eligible = max(0, (high - low).days + 1)
        days = attended[member.user_id]
        rows.append({
            "user": user_summary(member.user),
            "days_attended": days,
            "eligible_days": eligible,
            "attendance_rate": rate(days, eligible),
            "current_streak": current[member.user_id],
            "longest_streak": longest[member.user_id][0],
        })
    rows.sort(key=lambda r: (-r["attendance_rate"], -r["days_attended"], r["user"]["name"],
                             r["user"]["id"]))
    return rows
