"""A seeded study room for the room-tab browser tests: an owner and a member, both signed in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tests.browser.conftest import api_post, sign_up_through_api

OWNER_NAME = "김민수"
MEMBER_NAME = "이서연"


@dataclass
class Room:
    study_id: str
    study_name: str
    owner: Any  # browser contexts
    member: Any
    owner_id: str
    member_id: str

    def url(self, tab: str = "") -> str:
        base = f"/studies/{self.study_id}/room"
        return f"{base}/{tab}" if tab else base


def seed_room(owner: Any, member: Any, *, emoji: str = "📚", name: str | None = None) -> Room:
    """The owner creates an auto-approving study and the member joins it (through the API)."""
    owner_user = sign_up_through_api(owner, OWNER_NAME)
    member_user = sign_up_through_api(member, MEMBER_NAME)
    study_name = name or f"토익 스터디 {secrets.token_hex(2)}"
    study = api_post(owner, "/api/studies", {
        "emoji": emoji, "name": study_name, "category": "취업/자격증", "max_members": 8,
        "description": "매일 LC 한 세트와 RC 파트 7을 함께 풉니다.", "auto_approve": True})
    api_post(member, f"/api/studies/{study['id']}/join", {"introduction": "잘 부탁드립니다."})
    return Room(study["id"], study_name, owner, member, owner_user["id"], member_user["id"])
