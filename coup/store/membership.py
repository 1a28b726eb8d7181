"""Membership writes (COUP.md §7.5, lifecycle §10.1): join, leave, review, add, kick, roles.

Every write is a `@db_write` that locks the study row before anything else (§1 item 16), so
the capacity check and the change it guards, the invite use count, and the seqs of the
events appended (§9.2) are decided by one writer at a time per study. Notifications follow
the §8.1 table; `notify()` never tells the actor about their own action.

The reads of this area (member lists, join requests, my studies) are in `membership_reads`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peewee import JOIN

from coup.errors import ApiError, NotFound
from coup.jsonutil import iso
from coup.store.events import (
    append_event,
    append_events,
    db_write,
    lock_study,
    remove_from_room,
)
from coup.store.fields import new_id, utcnow
from coup.store.models import Study, StudyMember, User
from coup.store.notifications import notify, render
from coup.store.rows import tuple_rows
from coup.store.study_access import (
    ST_ADMIN_ROLES,
    access_study,
    active_count,
    active_member_ids,
    member_view,
    membership_of,
    room_study_view,
)

# The three application answers a join stores (§4.3 study_members).
ANSWER_FIELDS = ("introduction", "motivation", "level")


# --- shared checks ----------------------------------------------------------------------------


def refuse_if_restricted(user: User, action: str, now: datetime) -> None:
    """RESTRICTED while `action` is restricted and `restricted_until` is ahead (§3.3)."""
    until = user.restricted_until
    if action in (user.restricted_actions or []) and until is not None and until > now:
        raise ApiError("RESTRICTED", details={"action": action, "restricted_until": iso(until)})


def _lock_live_study(study_id: str) -> Study:
    """The locked study row; NOT_FOUND when it is missing or DELETED."""
    study = lock_study(study_id)
    if study is None or study.status == "DELETED":
        raise NotFound()
    return study


def _refuse_if_full(study: Study) -> None:
    if active_count(study.id) >= study.max_members:
        raise ApiError("STUDY_FULL")


def _member_with_user(study_id: str, user_id: str) -> StudyMember | None:
    """The membership row with its user loaded in the same query (no lazy load later)."""
    return (StudyMember.select(StudyMember, User)
            .join(User, JOIN.INNER, on=(StudyMember.user == User.id))
            .where((StudyMember.study == study_id) & (StudyMember.user == user_id))
            .first())


def _activate(row: StudyMember | None, study_id: str, user_id: str,
              fields: dict[str, Any]) -> StudyMember:
    """Create the row, or reuse the existing one (LEFT or PENDING), with `fields` applied."""
    now = utcnow()
    if row is None:
        return StudyMember.create(id=new_id(), study=study_id, user=user_id, created_at=now,
                                  updated_at=now, **fields)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row


def _announce_joined(study: Study, member: dict[str, Any]) -> None:
    append_event(study.id, "study:member-joined", {"member": member})


# --- join and leave ---------------------------------------------------------------------------


@db_write
def join_study(study_id: str, user_id: str, answers: dict[str, Any],
               invite_code: str | None) -> dict[str, Any]:
    """POST /api/studies/{id}/join: the ordered checks of §7.5, then ACTIVE or PENDING."""
    study = lock_study(study_id)
    # 1. Visibility as for the study detail; a hidden or deleted study is never joinable.
    if study is None or study.status == "DELETED" or study.is_hidden:
        raise NotFound()
    row = membership_of(study_id, user_id)
    via_invite = invite_code is not None
    if invite_code is not None:
        # Imported here so this module loads before the invite module exists.
        from coup.store.invites import check_invite_code

        check_invite_code(study, invite_code)
    elif not study.is_public and (row is None or row.status not in ("ACTIVE", "PENDING")):
        raise NotFound()
    user = User.get_by_id(user_id)
    now = utcnow()
    refuse_if_restricted(user, "STUDY_JOIN", now)  # 2.
    if study.status == "CLOSED":  # 3.
        raise ApiError("STUDY_CLOSED")
    if row is not None:  # 4. LEFT falls through: the row is reused.
        if row.status == "ACTIVE":
            raise ApiError("ALREADY_MEMBER")
        if row.status == "KICKED":
            raise ApiError("KICKED_MEMBER")
        if row.status == "PENDING" and not via_invite:
            raise ApiError("APPLICATION_EXISTS")
    _refuse_if_full(study)  # 5.
    if not via_invite and not study.is_recruiting:  # 6.
        raise ApiError("NOT_RECRUITING")

    active = via_invite or study.auto_approve
    fields: dict[str, Any] = {
        "role": "MEMBER", "status": "ACTIVE" if active else "PENDING", "applied_at": now,
        "joined_at": now if active else None, "approved_at": now if active else None,
        "approved_by": None, "left_at": None,
    }
    if row is not None and row.status == "PENDING":
        # An applicant redeeming a code keeps the answers they gave unless they give new ones.
        fields.update(answers)
    else:
        fields.update({name: answers.get(name) for name in ANSWER_FIELDS})
    row = _activate(row, study_id, user_id, fields)
    member = member_view(row, user)
    admins = active_member_ids(study_id, ST_ADMIN_ROLES)
    if active:
        if via_invite:
            from coup.store.invites import consume_invite_use

            consume_invite_use(study_id)
        _announce_joined(study, member)
        notify(admins, "MEMBER", render("member_joined", user=user.name, study=study.name),
               study=study, actor_id=user_id,
               data={"user_id": user_id, "user_name": user.name,
                     "via": "invite" if via_invite else "auto"})
    else:
        notify(admins, "JOIN_REQUEST", render("join_request", user=user.name, study=study.name),
               study=study, actor_id=user_id, data={"user_id": user_id, "user_name": user.name})
    return {"member": member, "auto_approved": active, "via_invite": via_invite}


@db_write
def leave_study(study_id: str, user_id: str) -> dict[str, Any]:
    """POST /api/studies/{id}/leave: withdraw a PENDING application or leave (LEFT)."""
    study = _lock_live_study(study_id)
    row = membership_of(study_id, user_id)
    if row is None or row.status not in ("ACTIVE", "PENDING"):
        # Outsiders of a private or hidden study learn nothing about it (§3.1).
        if not study.is_public or study.is_hidden:
            raise NotFound()
        raise ApiError("NOT_MEMBER")
    if row.status == "PENDING":
        row.delete_instance()
        return {"status": "WITHDRAWN"}
    if row.role == "OWNER":
        raise ApiError("OWNER_CANNOT_LEAVE")
    row.status, row.left_at = "LEFT", utcnow()
    row.save()
    append_event(study_id, "study:member-left", {"user_id": user_id, "reason": "left"})
    remove_from_room(study_id, user_id, "left")
    return {"status": "LEFT"}


def leave_all_memberships_now(user_id: str) -> list[str]:
    """Account deletion (§7.2, §10.1): take `user_id` out of every study, inside the caller's
    transaction, and return the ids of the studies they left.

    PENDING applications are deleted; ACTIVE rows become LEFT (`left_at` now). For each study
    that is not DELETED this appends `study:member-left {user_id, reason: "left"}` and removes
    the user's sessions from the room, so the events commit or roll back with the deletion.

    Call it from a `@db_write` function (not a plain `@db_transaction`): the events and room
    removals are recorded in that write's Effects and handed to the realtime layer after
    commit; outside a `@db_write` it raises RuntimeError. It locks each affected study, in id
    order so that two writers sharing studies cannot deadlock.
    """
    now = utcnow()
    StudyMember.delete().where((StudyMember.user == user_id)
                               & (StudyMember.status == "PENDING")).execute()
    rows = tuple_rows(StudyMember.select(StudyMember.study, Study.status)
                      .join(Study, JOIN.INNER, on=(StudyMember.study == Study.id))
                      .where((StudyMember.user == user_id) & (StudyMember.status == "ACTIVE")))
    live = sorted(study_id for study_id, status in rows if status != "DELETED")
    for study_id in live:
        lock_study(study_id)
    StudyMember.update(status="LEFT", left_at=now).where(
        (StudyMember.user == user_id) & (StudyMember.status == "ACTIVE")).execute()
    for study_id in live:
        append_event(study_id, "study:member-left", {"user_id": user_id, "reason": "left"})
        remove_from_room(study_id, user_id, "left")
    return live


# --- join requests ----------------------------------------------------------------------------


def _pending_row(study_id: str, user_id: str) -> StudyMember:
    row = _member_with_user(study_id, user_id)
    if row is None or row.status != "PENDING":
        raise NotFound()
    return row


@db_write
def approve_request(study_id: str, actor_id: str, user_id: str) -> dict[str, Any]:
    """POST …/join-requests/{user_id}/approve: capacity re-checked under the study lock."""
    study = _lock_live_study(study_id)
    access_study(study_id, actor_id, "ST_ADMIN", writable=True, study=study)
    row = _pending_row(study_id, user_id)
    _refuse_if_full(study)
    now = utcnow()
    _activate(row, study_id, user_id, {"status": "ACTIVE", "joined_at": now, "approved_at": now,
                                       "approved_by": actor_id, "left_at": None})
    member = member_view(row, row.user)
    _announce_joined(study, member)
    notify([user_id], "JOIN_APPROVED", render("join_approved", study=study.name), study=study,
           data={}, actor_id=actor_id)
    return member


@db_write
def reject_request(study_id: str, actor_id: str, user_id: str, reason: str | None) -> None:
    """POST …/join-requests/{user_id}/reject: the row is deleted so the user may apply again."""
    study = _lock_live_study(study_id)
    access_study(study_id, actor_id, "ST_ADMIN", writable=True, study=study)
    row = _pending_row(study_id, user_id)
    row.delete_instance()
    notify([user_id], "JOIN_REJECTED", render("join_rejected", study=study.name, reason=reason),
           study=study, data={"reason": reason}, actor_id=actor_id)


# --- managing members -------------------------------------------------------------------------


@db_write
def add_member(study_id: str, actor_id: str, user_id: str, role: str) -> dict[str, Any]:
    """POST /api/studies/{id}/members: direct add as MEMBER (ST-ADMIN) or ADMIN (OWNER)."""
    study = _lock_live_study(study_id)
    access = access_study(study_id, actor_id, "ST_ADMIN", writable=True, study=study)
    if role == "ADMIN" and access.role != "OWNER":
        raise ApiError("ROLE_HIERARCHY")
    user = User.select().where((User.id == user_id) & (User.status == "ACTIVE")).first()
    if user is None:
        raise NotFound()
    row = membership_of(study_id, user_id)
    if row is not None and row.status == "ACTIVE":
        raise ApiError("ALREADY_MEMBER")
    if row is not None and row.status == "KICKED":
        raise ApiError("KICKED_MEMBER")
    now = utcnow()
    refuse_if_restricted(user, "STUDY_JOIN", now)
    _refuse_if_full(study)
    was_pending = row is not None and row.status == "PENDING"
    fields: dict[str, Any] = {"role": role, "status": "ACTIVE", "joined_at": now,
                              "approved_at": now, "approved_by": actor_id, "left_at": None}
    if not was_pending:
        # A pending applicant's applied_at stays the time of their application.
        fields["applied_at"] = now
    row = _activate(row, study_id, user_id, fields)
    member = member_view(row, user)
    _announce_joined(study, member)
    if was_pending:
        notify([user_id], "JOIN_APPROVED", render("join_approved", study=study.name),
               study=study, data={}, actor_id=actor_id)
    else:
        notify([user_id], "MEMBER", render("member_added", study=study.name), study=study,
               data={"added_by": actor_id}, actor_id=actor_id)
    return member


@db_write
def kick_member(study_id: str, actor_id: str, user_id: str, reason: str | None) -> None:
    """DELETE /api/studies/{id}/members/{user_id}: KICKED is final (§10.1)."""
    study = _lock_live_study(study_id)
    access = access_study(study_id, actor_id, "ST_ADMIN", study=study)
    if user_id == actor_id:
        raise ApiError("CANNOT_KICK_SELF")
    row = membership_of(study_id, user_id)
    if row is None or row.status != "ACTIVE":
        raise NotFound()
    if row.role == "OWNER":
        raise ApiError("CANNOT_KICK_OWNER")
    if row.role == "ADMIN" and access.role != "OWNER":
        raise ApiError("ROLE_HIERARCHY")
    row.status, row.kicked_at, row.kicked_by_id, row.kick_reason = (
        "KICKED", utcnow(), actor_id, reason)
    row.save()
    append_event(study_id, "study:member-left", {"user_id": user_id, "reason": "kicked"})
    remove_from_room(study_id, user_id, "kicked")
    notify([user_id], "KICK", render("kick", study=study.name, reason=reason), study=study,
           data={"reason": reason}, actor_id=actor_id)


@db_write
def change_role(study_id: str, actor_id: str, user_id: str, role: str) -> dict[str, Any]:
    """PATCH …/members/{user_id}/role: MEMBER ↔ ADMIN; OWNER moves only by transfer."""
    study = _lock_live_study(study_id)
    access_study(study_id, actor_id, "OWNER", study=study)
    row = _member_with_user(study_id, user_id)
    if row is None or row.status != "ACTIVE":
        raise NotFound()
    if row.role == "OWNER" or role == "OWNER":
        raise ApiError("OWNER_ROLE_LOCKED")
    if row.role == role:
        return member_view(row, row.user)
    previous_role, row.role = row.role, role
    row.save()
    member = member_view(row, row.user)
    append_event(study_id, "study:member-updated", {"member": member})
    notify([user_id], "ROLE_CHANGE", render("role_change", study=study.name, role=role),
           study=study, data={"role": role, "previous_role": previous_role},
           actor_id=actor_id)
    return member


@db_write
def transfer_ownership(study_id: str, actor_id: str, target_id: str) -> dict[str, Any]:
    """POST …/transfer-ownership: the target ADMIN becomes OWNER, the caller ADMIN."""
    study = _lock_live_study(study_id)
    old = access_study(study_id, actor_id, "OWNER", study=study).membership
    target = _member_with_user(study_id, target_id) if target_id != actor_id else None
    if target is None or target.status != "ACTIVE" or target.role != "ADMIN":
        raise ApiError("INVALID_TRANSFER_TARGET")
    target.role, old.role = "OWNER", "ADMIN"
    target.save()
    old.save()
    Study.update(owner=target_id).where(Study.id == study_id).execute()
    new_owner = member_view(target, target.user)
    old_owner = member_view(old, User.get_by_id(actor_id))
    append_events(study_id, [
        ("study:member-updated", {"member": new_owner}),
        ("study:member-updated", {"member": old_owner}),
        ("study:updated", {"study": room_study_view(study_id)}),
    ])
    notify([target_id], "OWNERSHIP_TRANSFERRED",
           render("ownership_transferred", study=study.name), study=study,
           data={"previous_owner_id": actor_id}, actor_id=actor_id)
    return {"new_owner": new_owner, "old_owner": old_owner}
