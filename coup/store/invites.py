"""Study invite codes (COUP.md §7.4): create, view, regenerate, revoke, preview, redeem checks.

A study holds at most one code, in its own row (`studies.invite_code*`). Invite changes produce
no durable study event (§9.2), so the writes here are plain transactions; they still take the
study's row lock, because the free-slot count they read must not move under them (§1 item 16).

Two functions serve the join flow (`POST /api/studies/{id}/join` with `invite_code`, owned by
the membership store), which calls them inside its own `@db_write` after `lock_study()`:

* `check_invite_code(study, code)` raises INVITE_NOT_FOUND, INVITE_EXPIRED or INVITE_EXHAUSTED
  unless `code` is the study's active code;
* `consume_invite_use(study_id)` adds one to `invite_code_used_count`.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from coup.errors import ApiError, NotFound
from coup.jsonutil import iso
from coup.store.db import db_task, db_transaction
from coup.store.events import lock_study
from coup.store.fields import utcnow
from coup.store.models import Study, User
from coup.store.study_access import access_study, active_count, statuses_of, study_summary
from coup.store.views import user_summary

log = logging.getLogger(__name__)

# No 0/O or 1/I: codes are read aloud and typed from screens.
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
INVITE_CODE_LENGTH = 8
# 32^8 codes make a collision rare; ten misses in a row means something else is wrong.
GENERATE_ATTEMPTS = 10
DEFAULT_EXPIRES_IN_HOURS = 168
DEFAULT_MAX_USES = 10
# Failures that count toward the per-IP invite look-up limit (COUP.md §1 item 14).
INVITE_FAILURE_CODES = frozenset({"INVITE_NOT_FOUND", "INVITE_EXPIRED", "INVITE_EXHAUSTED"})
# Columns of UserSummary; a code's creator is shown without an email (§1 item 11).
SUMMARY_COLUMNS = (User.id, User.name, User.avatar, User.status)
# The invite columns of a study with no code (revocation, study deletion).
CLEARED_INVITE: dict[str, Any] = {
    "invite_code": None,
    "invite_code_expires_at": None,
    "invite_code_max_uses": None,
    "invite_code_used_count": 0,
    "invite_code_created_at": None,
    "invite_code_created_by": None,
}


def normalise_code(code: str) -> str:
    """Codes are stored upper-case and matched case-insensitively."""
    return code.strip().upper()


def is_well_formed(code: str) -> bool:
    return len(code) == INVITE_CODE_LENGTH and all(c in INVITE_ALPHABET for c in code)


def invite_state(study: Study, now: datetime) -> str | None:
    """`active`, `expired` or `exhausted` (expiry wins when both hold); None without a code."""
    if study.invite_code is None:
        return None
    if study.invite_code_expires_at is not None and study.invite_code_expires_at <= now:
        return "expired"
    max_uses = study.invite_code_max_uses
    if max_uses is not None and study.invite_code_used_count >= max_uses:
        return "exhausted"
    return "active"


def available_slots(study: Study, current_members: int) -> int:
    """How many more people can join with the code: its uses left, capped by the free seats."""
    free = max(0, study.max_members - current_members)
    if study.invite_code_max_uses is None:
        return free
    return max(0, min(free, study.invite_code_max_uses - study.invite_code_used_count))


def invite_url(app_url: str, study_id: str, code: str) -> str:
    return f"{app_url.rstrip('/')}/studies/{study_id}/join?code={code}"


def invite_view(study: Study, creator: User | None, current_members: int,
                app_url: str) -> dict[str, Any] | None:
    """The Invite object of COUP.md §6, or None when the study has no code."""
    if study.invite_code is None:
        return None
    return _invite_object(study, study.invite_code, creator, current_members, app_url)


def _invite_object(study: Study, code: str, creator: User | None, current_members: int,
                   app_url: str) -> dict[str, Any]:
    return {
        "study_id": study.id,
        "study_name": study.name,
        "invite_code": code,
        "invite_url": invite_url(app_url, study.id, code),
        "expires_at": iso(study.invite_code_expires_at),
        "max_uses": study.invite_code_max_uses,
        "used_count": study.invite_code_used_count,
        "available_slots": available_slots(study, current_members),
        "state": invite_state(study, utcnow()),
        "created_at": iso(study.invite_code_created_at),
        "created_by": user_summary(creator),
    }


# --- the join flow's two hooks (plain functions: call them inside the caller's transaction) ---


def code_grants_access(study: Study, code: str | None) -> bool:
    """True when `code` is the active code of this visible (not hidden, not deleted) study."""
    if not code:
        return False
    try:
        check_invite_code(study, code)
    except ApiError:
        return False
    return True


def check_invite_code(study: Study, code: str) -> None:
    """Raise unless `code` is the study's active code (for the join flow, COUP.md §7.5).

    INVITE_NOT_FOUND: the code is not this study's (unknown, revoked, another study's), or the
    study is hidden or deleted. INVITE_EXPIRED / INVITE_EXHAUSTED: the code is this study's but
    no longer usable. A CLOSED study passes: the join flow answers STUDY_CLOSED itself.
    """
    if (study.invite_code is None or study.is_hidden or study.status == "DELETED"
            or normalise_code(code) != study.invite_code):
        raise ApiError("INVITE_NOT_FOUND")
    state = invite_state(study, utcnow())
    if state == "expired":
        raise ApiError("INVITE_EXPIRED")
    if state == "exhausted":
        raise ApiError("INVITE_EXHAUSTED")


def consume_invite_use(study_id: str) -> None:
    """Count one redemption. Call after `lock_study(study_id)` in the same transaction."""
    # updated_at is kept: it tracks the study's settings, not the code's traffic.
    Study.update(invite_code_used_count=Study.invite_code_used_count + 1,
                 updated_at=Study.updated_at).where(Study.id == study_id).execute()


# --- store functions --------------------------------------------------------------------------


def _locked_for_admin(study_id: str, actor_id: str, *, writable: bool) -> Study:
    study = lock_study(study_id)
    if study is None:
        raise NotFound()
    return access_study(study_id, actor_id, "ST_ADMIN", writable=writable, study=study).study


def _creator(user_id: str | None) -> User | None:
    if user_id is None:
        return None
    return User.select(*SUMMARY_COLUMNS).where(User.id == user_id).first()


def _new_code() -> str:
    for _ in range(GENERATE_ATTEMPTS):
        code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))
        if not Study.select(Study.id).where(Study.invite_code == code).exists():
            return code
    log.error("no free invite code after %d attempts", GENERATE_ATTEMPTS)
    raise ApiError("INTERNAL")


def _issue(study: Study, actor_id: str, lifetime: timedelta, max_uses: int,
           app_url: str) -> dict[str, Any]:
    """Replace the study's code with a fresh one; `max_uses` is lowered to the free seats."""
    current = active_count(study.id)
    free = study.max_members - current
    if free <= 0:
        raise ApiError("STUDY_FULL")
    now = utcnow()
    code = _new_code()
    fields = {
        "invite_code": code,
        "invite_code_expires_at": now + lifetime,
        "invite_code_max_uses": min(max_uses, free),
        "invite_code_used_count": 0,
        "invite_code_created_at": now,
        "invite_code_created_by": actor_id,
    }
    # updated_at is kept: an invite is not a change of the study's settings.
    Study.update(updated_at=Study.updated_at, **fields).where(Study.id == study.id).execute()
    for name, value in fields.items():
        setattr(study, name, value)
    log.info("study %s: invite code issued by %s", study.id, actor_id)
    return _invite_object(study, code, _creator(actor_id), current, app_url)


@db_transaction
def create_invite(study_id: str, actor_id: str, expires_in_hours: int | None,
                  max_uses: int | None, app_url: str) -> dict[str, Any]:
    study = _locked_for_admin(study_id, actor_id, writable=True)
    hours = expires_in_hours or DEFAULT_EXPIRES_IN_HOURS
    return _issue(study, actor_id, timedelta(hours=hours), max_uses or DEFAULT_MAX_USES, app_url)


@db_transaction
def regenerate_invite(study_id: str, actor_id: str, expires_in_hours: int | None,
                      max_uses: int | None, app_url: str) -> dict[str, Any]:
    """A new code; omitted fields keep the current code's max_uses and lifetime length."""
    study = _locked_for_admin(study_id, actor_id, writable=True)
    if expires_in_hours is not None:
        lifetime = timedelta(hours=expires_in_hours)
    elif study.invite_code_expires_at is not None and study.invite_code_created_at is not None:
        lifetime = study.invite_code_expires_at - study.invite_code_created_at
    else:
        lifetime = timedelta(hours=DEFAULT_EXPIRES_IN_HOURS)
    if max_uses is None:
        max_uses = study.invite_code_max_uses or DEFAULT_MAX_USES
    return _issue(study, actor_id, lifetime, max_uses, app_url)


@db_task
def load_invite(study_id: str, actor_id: str, app_url: str) -> dict[str, Any] | None:
    study = access_study(study_id, actor_id, "ST_ADMIN").study
    if study.invite_code is None:
        return None
    return invite_view(study, _creator(study.invite_code_created_by_id),
                       active_count(study_id), app_url)


@db_transaction
def revoke_invite(study_id: str, actor_id: str) -> None:
    """Remove the code (allowed in a CLOSED study: it only takes access away)."""
    study = _locked_for_admin(study_id, actor_id, writable=False)
    if study.invite_code is None:
        raise NotFound(message="This study has no invite code.")
    Study.update(updated_at=Study.updated_at, **CLEARED_INVITE).where(
        Study.id == study_id).execute()
    log.info("study %s: invite code revoked by %s", study_id, actor_id)



@db_task
def preview_invite(code: str, viewer_id: str | None) -> dict[str, Any]:
    """`GET /api/studies/join/{code}`: the study behind an active code, for anyone."""
    normalised = normalise_code(code)
    if not is_well_formed(normalised):
        raise ApiError("INVITE_NOT_FOUND")
    study = (Study.select(Study, *SUMMARY_COLUMNS)
             .join(User, on=(Study.owner == User.id), attr="owner")
             .where(Study.invite_code == normalised).first())
    if study is None:
        raise ApiError("INVITE_NOT_FOUND")
    check_invite_code(study, normalised)
    current = active_count(study.id)
    mine = statuses_of(viewer_id, [study.id]).get(study.id)
    return {
        "study": study_summary(study, study.owner, current, mine),
        "invite": {"expires_at": iso(study.invite_code_expires_at),
                   "available_slots": available_slots(study, current)},
    }
