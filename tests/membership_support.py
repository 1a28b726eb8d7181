"""Shared helpers for the membership tests (test_membership_*.py).

Study rows are created directly in the database, so these tests do not depend on the study
endpoints; everything under test goes through the real server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from coup.store.db import db_task, db_transaction
from coup.store.events import Effects, RoomRemoval
from coup.store.fields import new_id, utcnow
from coup.store.models import Notification, Study, StudyEvent, StudyMember, User
from tests.conftest import Api, LiveServer, watching_effects
from tests.conftest import User as ApiUser

INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@db_transaction
def _create_study(owner_id: str, fields: dict[str, Any]) -> str:
    now = utcnow()
    values = {"name": "알고리즘 스터디", "description": "함께 공부하는 모임입니다.",
              "category": "개발", "created_at": now, "updated_at": now, **fields}
    study = Study.create(id=new_id(), owner=owner_id, **values)
    StudyMember.create(id=new_id(), study=study.id, user=owner_id, role="OWNER",
                       status="ACTIVE", applied_at=now, joined_at=now, approved_at=now,
                       created_at=now, updated_at=now)
    return study.id


@db_transaction
def _add_row(study_id: str, user_id: str, status: str, role: str,
             joined_minutes_ago: int) -> None:
    moment = utcnow() - timedelta(minutes=joined_minutes_ago)
    StudyMember.create(id=new_id(), study=study_id, user=user_id, role=role, status=status,
                       applied_at=moment, joined_at=moment if status != "PENDING" else None,
                       created_at=moment, updated_at=moment)


@db_transaction
def _update(model_name: str, row_id: str, changes: dict[str, Any]) -> None:
    model = {"Study": Study, "User": User}[model_name]
    model.update(**changes).where(model.id == row_id).execute()


@db_task
def membership_row(study_id: str, user_id: str) -> dict[str, Any] | None:
    return (StudyMember.select()
            .where((StudyMember.study == study_id) & (StudyMember.user == user_id))
            .dicts().first())


@db_task
def study_row(study_id: str) -> dict[str, Any]:
    return Study.select().where(Study.id == study_id).dicts().get()


@db_task
def study_events(study_id: str) -> list[dict[str, Any]]:
    return list(StudyEvent.select(StudyEvent.seq, StudyEvent.type, StudyEvent.payload)
                .where(StudyEvent.study == study_id).order_by(StudyEvent.seq).dicts())


@db_task
def study_notifications(study_id: str) -> list[dict[str, Any]]:
    """Notifications about one study, oldest first, as (user_id, type, data, message)."""
    return list(Notification.select(Notification.user, Notification.type, Notification.data,
                                     Notification.message, Notification.study_id,
                                     Notification.study_name)
                .where(Notification.study_id == study_id)
                .order_by(Notification.created_at, Notification.id).dicts())


@dataclass
class Room:
    """Records the room removals the server hands to the realtime layer after commit."""

    removals: list[RoomRemoval] = field(default_factory=list)
    recording: bool = True

    async def __call__(self, effects: Effects) -> None:
        if self.recording:
            self.removals.extend(effects.removals)


@dataclass
class World:
    """A study with its owner, and helpers to shape and inspect it."""

    server: LiveServer
    api: Api
    owner: ApiUser
    study_id: str

    def user(self, name: str = "참가자") -> ApiUser:
        return self.api.signup(name=name)

    def add(self, user: ApiUser, status: str = "ACTIVE", role: str = "MEMBER",
            joined_minutes_ago: int = 0, study_id: str | None = None) -> ApiUser:
        self.server.call(_add_row(study_id or self.study_id, user.id, status, role,
                                  joined_minutes_ago))
        return user

    def member(self, role: str = "MEMBER", name: str = "멤버") -> ApiUser:
        return self.add(self.user(name), role=role)

    def set_study(self, **changes: Any) -> None:
        self.server.call(_update("Study", self.study_id, changes))

    def set_user(self, user: ApiUser, **changes: Any) -> None:
        self.server.call(_update("User", user.id, changes))

    def set_invite(self, code: str | None = None, *, hours: float = 24, max_uses: int = 10,
                   used: int = 0) -> str:
        """Give the study an invite code by writing its columns (as the invite API would)."""
        code = code or "".join(secrets.choice(INVITE_ALPHABET) for _ in range(8))
        now = utcnow()
        self.set_study(invite_code=code, invite_code_expires_at=now + timedelta(hours=hours),
                       invite_code_max_uses=max_uses, invite_code_used_count=used,
                       invite_code_created_at=now, invite_code_created_by=self.owner.id)
        return code

    def row(self, user: ApiUser) -> dict[str, Any] | None:
        return self.server.call(membership_row(self.study_id, user.id))

    def study(self) -> dict[str, Any]:
        return self.server.call(study_row(self.study_id))

    def events(self) -> list[dict[str, Any]]:
        return self.server.call(study_events(self.study_id))

    def notifications(self) -> list[dict[str, Any]]:
        return self.server.call(study_notifications(self.study_id))

    def new_study(self, owner: ApiUser | None = None, **fields: Any) -> str:
        return self.server.call(_create_study((owner or self.owner).id, fields))

    def path(self, suffix: str = "") -> str:
        return f"/api/studies/{self.study_id}{suffix}"


def make_world(server: LiveServer, api: Api, **fields: Any) -> World:
    owner = api.signup(name="스터디장")
    study_id = server.call(_create_study(owner.id, fields))
    return World(server, api, owner, study_id)


def recording_room(server: LiveServer) -> Iterator[Room]:
    """Body of a `room` fixture: record room removals for the length of one test."""
    recorder = Room()
    with watching_effects(recorder):
        yield recorder


def delete(http: httpx.Client, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return http.request("DELETE", path, json=body) if body is not None else http.delete(path)


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def assert_seqs_consecutive(events: list[dict[str, Any]]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for event in events:
        assert event["payload"]["seq"] == event["seq"]


