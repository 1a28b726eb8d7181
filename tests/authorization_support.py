"""A study with people in every role, for the authorization, privacy and schemathesis tests.

Rows are written straight to the database (the study, memberships, an invite code, a
notification), so the fixtures do not depend on the endpoints under test; every call under
test goes through the real server. People are created on first use, so a world costs only what
a test touches.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from coup.store.db import db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import Notification, Study, StudyMember
from tests.conftest import LiveServer, User

# The caller columns of the authorization table, in order.
ROLES = ("anonymous", "non_member", "pending", "member", "admin", "owner")
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Which membership row each study role gets: (status, role).
ROLE_ROWS = {"pending": ("PENDING", "MEMBER"), "member": ("ACTIVE", "MEMBER"),
             "admin": ("ACTIVE", "ADMIN"), "applicant": ("PENDING", "MEMBER"),
             "other_member": ("ACTIVE", "MEMBER"), "other_admin": ("ACTIVE", "ADMIN")}


@db_transaction
def create_study_row(owner_id: str, is_public: bool, auto_approve: bool) -> str:
    now = utcnow()
    study = Study.create(owner=owner_id, name=f"권한 스터디 {secrets.token_hex(2)}",
                         description="권한 표를 확인하는 테스트 스터디입니다.", category="개발",
                         is_public=is_public, auto_approve=auto_approve, created_at=now,
                         updated_at=now)
    StudyMember.create(study=study.id, user=owner_id, role="OWNER", status="ACTIVE",
                       applied_at=now, joined_at=now, approved_at=now)
    return study.id


@db_transaction
def add_membership_row(study_id: str, user_id: str, status: str, role: str) -> None:
    now = utcnow()
    StudyMember.create(study=study_id, user=user_id, role=role, status=status, applied_at=now,
                       joined_at=now if status == "ACTIVE" else None,
                       approved_at=now if status == "ACTIVE" else None,
                       introduction="안녕하세요, 열심히 하겠습니다.", motivation="SKILL_UP",
                       level="BEGINNER")


@db_transaction
def set_invite_code(study_id: str, created_by: str) -> str:
    code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(8))
    now = utcnow()
    Study.update(invite_code=code, invite_code_expires_at=now + timedelta(hours=24),
                 invite_code_max_uses=10, invite_code_used_count=0,
                 invite_code_created_at=now, invite_code_created_by=created_by,
                 ).where(Study.id == study_id).execute()
    return code


@db_transaction
def create_notification_row(user_id: str, study_id: str) -> str:
    row = Notification.create(id=new_id(), user=user_id, type="JOIN_REQUEST", study_id=study_id,
                              study_name="권한 스터디", study_emoji="📚",
                              message="누군가 가입을 신청했습니다", data={})
    return row.id


class Clients:
    """Cookie-less clients like conftest's `native_client`, made cheaply: the test server
    speaks plain HTTP, and building httpx's default TLS context costs ~0.15 s per client,
    which several thousand fresh users would feel."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self._open: list[httpx.Client] = []

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = httpx.Client(base_url=self.server.base_url, timeout=30, verify=False,
                            headers=headers)
        http.event_hooks["response"].append(lambda response: http.cookies.clear())
        self._open.append(http)
        return http

    def signup(self, name: str) -> User:
        email = f"user-{secrets.token_hex(6)}@example.com"
        password = "Secret-pass-123"
        response = self.client().post("/api/auth/signup", json={
            "email": email, "password": password, "name": name})
        assert response.status_code == 201, response.text
        data = response.json()["data"]
        return User(id=data["user"]["id"], email=email, password=password, name=name,
                    token=data["token"], http=self.client(data["token"]))

    def close(self) -> None:
        for http in self._open:
            http.close()
        self._open.clear()


@dataclass
class StudyWorld:
    """One study (public or private) and, on demand, a person in each role around it."""

    server: LiveServer
    clients: Clients
    is_public: bool = True
    auto_approve: bool = True
    people: dict[str, User] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.owner = self.clients.signup("스터디장")
        self.people["owner"] = self.owner
        self.study_id = self.server.call(
            create_study_row(self.owner.id, self.is_public, self.auto_approve))
        self.values["study"] = self.study_id

    def person(self, role: str) -> User:
        """The user in `role` (non_member, pending, member, admin, applicant, other_member,
        other_admin, outsider, owner), created on first use."""
        if role not in self.people:
            user = self.clients.signup(role.replace("_", "-"))
            if role in ROLE_ROWS:
                status, member_role = ROLE_ROWS[role]
                self.server.call(add_membership_row(self.study_id, user.id, status, member_role))
            self.people[role] = user
        return self.people[role]

    def client(self, role: str) -> httpx.Client:
        return self.clients.client() if role == "anonymous" else self.person(role).http

    def value(self, name: str) -> str:
        """What a `{name}` placeholder stands for: an id or code of this world."""
        if name not in self.values:
            if name == "code":
                self.values[name] = self.server.call(set_invite_code(self.study_id,
                                                                     self.owner.id))
            elif name == "owner_note":
                self.values[name] = self.server.call(
                    create_notification_row(self.owner.id, self.study_id))
            else:
                self.values[name] = self.person(name).id
        return self.values[name]

    def fill(self, template: Any) -> Any:
        """Replace every `{name}` in a path or JSON body with this world's value."""
        if isinstance(template, str):
            return PLACEHOLDER.sub(lambda match: self.value(match.group(1)), template)
        if isinstance(template, dict):
            return {key: self.fill(item) for key, item in template.items()}
        if isinstance(template, list):
            return [self.fill(item) for item in template]
        return template


def call(http: httpx.Client, method: str, path: str, body: Any = None) -> httpx.Response:
    if body is None:
        return http.request(method, path)
    return http.request(method, path, json=body)
