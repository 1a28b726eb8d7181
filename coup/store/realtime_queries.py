"""The few database reads the realtime layer needs: a room's head seq and its access checks."""

from __future__ import annotations

from coup.errors import ApiError
from coup.store.chat import restriction_error
from coup.store.db import db_task
from coup.store.fields import utcnow
from coup.store.models import Study, User
from coup.store.study_access import access_study


@db_task
def study_last_seq(study_id: str) -> int:
    value = Study.select(Study.last_seq).where(Study.id == study_id).scalar()
    return int(value or 0)


@db_task
def check_room_access(study_id: str, user_id: str) -> None:
    """Only ACTIVE members of a study that is not deleted may join its room (PROTOCOL §4)."""
    access_study(study_id, user_id)


@db_task
def check_not_restricted(user_id: str, action: str) -> None:
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise ApiError("UNAUTHORIZED")
    error = restriction_error(user, action, utcnow())
    if error is not None:
        raise error
