"""User-facing reports (COUP.md §7.17) through the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from coup.jsonutil import iso
from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import Message, Report, Study, StudyMember, User
from tests.conftest import Api, LiveServer, error_code

REPORT_KEYS = {"id", "target_type", "target_id", "target_name", "type", "status", "created_at"}
REASON = "반복적으로 광고 메시지를 보냅니다."


# --- database helpers (run on the server's database workers through server.call) -------------


@db_transaction
def _create_study(owner_id: str, *, name: str = "알고리즘 스터디", is_public: bool = True,
                  is_hidden: bool = False, status: str = "ACTIVE") -> str:
    now = utcnow()
    study = Study.create(id=new_id(), owner=owner_id, name=name, description="함께 공부하는 모임",
                         category="개발", is_public=is_public, is_hidden=is_hidden,
                         status=status, created_at=now, updated_at=now)
    StudyMember.create(id=new_id(), study=study.id, user=owner_id, role="OWNER",
                       status="ACTIVE", joined_at=now)
    return study.id


@db_transaction
def _add_member(study_id: str, user_id: str, status: str = "ACTIVE") -> None:
    StudyMember.create(id=new_id(), study=study_id, user=user_id, role="MEMBER", status=status,
                       joined_at=utcnow() if status == "ACTIVE" else None)


@db_transaction
def _post_message(study_id: str, user_id: str, content: str = "광고입니다 지금 클릭하세요",
                  deleted: bool = False) -> str:
    seq = Study.get_by_id(study_id).last_seq + 1
    Study.update(last_seq=seq).where(Study.id == study_id).execute()
    now = utcnow()
    return Message.create(id=new_id(), study=study_id, user=user_id, client_id=new_id(),
                          seq=seq, content=content, deleted_at=now if deleted else None,
                          created_at=now, updated_at=now).id


@db_task
def _message_created_at(message_id: str) -> str | None:
    return iso(Message.get_by_id(message_id).created_at)


@db_transaction
def _set_user_status(user_id: str, status: str) -> None:
    User.update(status=status).where(User.id == user_id).execute()


@db_task
def _report_row(report_id: str) -> dict[str, Any]:
    return Report.select().where(Report.id == report_id).dicts().get()


@db_transaction
def _close_report(report_id: str, status: str, resolution: str | None = None) -> None:
    Report.update(status=status, resolution=resolution,
                  processed_at=utcnow() if status in ("RESOLVED", "REJECTED") else None
                  ).where(Report.id == report_id).execute()


@db_transaction
def _past_reports(reporter_id: str, count: int, age: timedelta) -> None:
    """`count` closed reports filed `age` ago, on distinct targets."""
    moment = utcnow() - age
    for _ in range(count):
        Report.create(id=new_id(), reporter=reporter_id, target_type="USER",
                      target_id=new_id(), target_name="누군가", type="SPAM", reason=REASON,
                      status="REJECTED", created_at=moment, updated_at=moment)


def report(http: httpx.Client, target_type: str, target_id: str, **fields: Any) -> httpx.Response:
    body = {"target_type": target_type, "target_id": target_id, "type": "SPAM",
            "reason": REASON, **fields}
    return http.post("/api/reports", json=body)


def filed(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()["data"]


# --- targets ----------------------------------------------------------------------------------


def test_report_on_a_user_is_stored_pending_with_the_cached_name(api: Api,
                                                                 server: LiveServer) -> None:
    alice, mallory = api.signup(name="앨리스"), api.signup(name="말로리")
    response = report(alice.http, "USER", mallory.id, type="HARASSMENT",
                      evidence={"urls": ["https://example.com/a"], "note": "캡처"})
    data = filed(response)
    assert set(data) == REPORT_KEYS
    assert data["target_type"] == "USER" and data["target_id"] == mallory.id
    assert data["target_name"] == "말로리" and data["type"] == "HARASSMENT"
    assert data["status"] == "PENDING" and data["created_at"].endswith("Z")
    assert mallory.email not in response.text and alice.email not in response.text

    row = server.call(_report_row(data["id"]))
    assert row["reporter"] == alice.id and row["priority"] == "MEDIUM"
    assert row["evidence"] == {"urls": ["https://example.com/a"], "note": "캡처"}
    assert row["reason"] == REASON and row["resolution"] is None


def test_missing_and_deleted_users_cannot_be_reported(api: Api, server: LiveServer) -> None:
    alice, gone, suspended = (api.signup(name="앨리스"), api.signup(name="탈퇴자"),
                              api.signup(name="정지자"))
    server.call(_set_user_status(gone.id, "DELETED"))
    server.call(_set_user_status(suspended.id, "SUSPENDED"))
    assert error_code(report(alice.http, "USER", gone.id)) == "NOT_FOUND"
    assert error_code(report(alice.http, "USER", "no-such-user")) == "NOT_FOUND"
    assert filed(report(alice.http, "USER", suspended.id))["target_name"] == "정지자"


def test_nobody_can_report_themselves_or_their_own_message(api: Api,
                                                           server: LiveServer) -> None:
    alice = api.signup(name="앨리스")
    study_id = server.call(_create_study(alice.id))
    message_id = server.call(_post_message(study_id, alice.id))
    response = report(alice.http, "USER", alice.id)
    assert response.status_code == 400 and error_code(response) == "CANNOT_REPORT_SELF"
    assert error_code(report(alice.http, "MESSAGE", message_id)) == "CANNOT_REPORT_SELF"


def test_a_study_must_be_visible_to_the_reporter(api: Api, server: LiveServer) -> None:
    owner, alice, applicant = (api.signup(name="스터디장"), api.signup(name="앨리스"),
                               api.signup(name="지원자"))
    public = server.call(_create_study(owner.id, name="공개 스터디"))
    private = server.call(_create_study(owner.id, is_public=False))
    hidden = server.call(_create_study(owner.id, is_hidden=True))
    deleted = server.call(_create_study(owner.id, status="DELETED"))
    closed = server.call(_create_study(owner.id, status="CLOSED"))
    server.call(_add_member(private, applicant.id, status="PENDING"))
    server.call(_add_member(hidden, applicant.id))
    server.call(_add_member(deleted, applicant.id))

    assert filed(report(alice.http, "STUDY", public))["target_name"] == "공개 스터디"
    assert filed(report(alice.http, "STUDY", closed))["target_type"] == "STUDY"
    for study_id in (private, hidden, deleted, "no-such-study"):
        assert error_code(report(alice.http, "STUDY", study_id)) == "NOT_FOUND"
    # A pending application or an active membership makes a private or hidden study visible.
    assert filed(report(applicant.http, "STUDY", private))["target_id"] == private
    assert filed(report(applicant.http, "STUDY", hidden))["target_id"] == hidden
    assert error_code(report(applicant.http, "STUDY", deleted)) == "NOT_FOUND"
    # Owning the study is not reporting yourself.
    assert filed(report(owner.http, "STUDY", public))["target_id"] == public


def test_a_message_report_snapshots_the_message(api: Api, server: LiveServer) -> None:
    owner, spammer = api.signup(name="스터디장"), api.signup(name="스패머")
    study_id = server.call(_create_study(owner.id))
    server.call(_add_member(study_id, spammer.id))
    content = "광고 " * 60 + "\n끝"
    message_id = server.call(_post_message(study_id, spammer.id, content))

    response = report(owner.http, "MESSAGE", message_id,
                      evidence={"note": "여러 번 보냄", "message_snapshot": "forged"})
    data = filed(response)
    assert data["target_name"] == content[:100]
    assert spammer.email not in response.text

    row = server.call(_report_row(data["id"]))
    assert row["target_name"] == content[:100]
    assert row["evidence"] == {
        "note": "여러 번 보냄",
        "message_snapshot": {"content": content, "user_id": spammer.id, "study_id": study_id,
                             "created_at": server.call(_message_created_at(message_id))},
    }


def test_a_message_report_without_evidence_still_gets_the_snapshot(api: Api,
                                                                   server: LiveServer) -> None:
    owner, member = api.signup(name="스터디장"), api.signup(name="멤버")
    study_id = server.call(_create_study(owner.id))
    server.call(_add_member(study_id, member.id))
    message_id = server.call(_post_message(study_id, owner.id, "짧은 글"))
    data = filed(report(member.http, "MESSAGE", message_id, evidence=None))
    evidence = server.call(_report_row(data["id"]))["evidence"]
    assert set(evidence) == {"message_snapshot"}
    assert evidence["message_snapshot"]["content"] == "짧은 글"


def test_a_message_must_be_live_and_in_a_study_where_i_am_active(api: Api,
                                                                 server: LiveServer) -> None:
    owner, outsider, applicant, former = (api.signup(name="스터디장"), api.signup(name="외부인"),
                                          api.signup(name="지원자"), api.signup(name="전멤버"))
    study_id = server.call(_create_study(owner.id))
    server.call(_add_member(study_id, applicant.id, status="PENDING"))
    server.call(_add_member(study_id, former.id, status="LEFT"))
    live = server.call(_post_message(study_id, owner.id))
    removed = server.call(_post_message(study_id, owner.id, deleted=True))
    gone_study = server.call(_create_study(owner.id, status="DELETED"))
    server.call(_add_member(gone_study, outsider.id))
    in_deleted_study = server.call(_post_message(gone_study, owner.id))

    for user in (outsider, applicant, former):
        assert error_code(report(user.http, "MESSAGE", live)) == "NOT_FOUND"
    server.call(_add_member(study_id, outsider.id))
    assert error_code(report(outsider.http, "MESSAGE", removed)) == "NOT_FOUND"
    assert error_code(report(outsider.http, "MESSAGE", in_deleted_study)) == "NOT_FOUND"
    assert error_code(report(outsider.http, "MESSAGE", "no-such-message")) == "NOT_FOUND"
    assert filed(report(outsider.http, "MESSAGE", live))["target_id"] == live


# --- duplicates and the limit -----------------------------------------------------------------


def test_an_open_report_blocks_another_on_the_same_target(api: Api, server: LiveServer) -> None:
    alice, bob, mallory = (api.signup(name="앨리스"), api.signup(name="바비"),
                           api.signup(name="말로리"))
    first = filed(report(alice.http, "USER", mallory.id))

    response = report(alice.http, "USER", mallory.id, type="OTHER")
    assert response.status_code == 409 and error_code(response) == "REPORT_EXISTS"
    server.call(_close_report(first["id"], "IN_PROGRESS"))
    assert error_code(report(alice.http, "USER", mallory.id)) == "REPORT_EXISTS"
    # Someone else may report the same target; a closed report no longer blocks a new one.
    filed(report(bob.http, "USER", mallory.id))
    server.call(_close_report(first["id"], "RESOLVED", "경고 조치"))
    filed(report(alice.http, "USER", mallory.id))


def test_at_most_ten_reports_count_over_the_last_24_hours(api: Api, server: LiveServer) -> None:
    alice, mallory = api.signup(name="앨리스"), api.signup(name="말로리")
    server.call(_past_reports(alice.id, 5, timedelta(hours=25)))  # outside the window
    server.call(_past_reports(alice.id, 9, timedelta(hours=1)))
    filed(report(alice.http, "USER", mallory.id))

    response = report(alice.http, "STUDY", "any-study")
    assert response.status_code == 429 and error_code(response) == "RATE_LIMITED"
    retry_ms = response.json()["error"]["details"]["retry_after_ms"]
    # The oldest of the ten in the window was filed an hour ago: about 23 hours to wait.
    assert 22 * 3600 * 1000 < retry_ms <= 23 * 3600 * 1000
    assert int(response.headers["Retry-After"]) == -(-retry_ms // 1000)


def test_the_limit_is_per_reporter(api: Api, server: LiveServer) -> None:
    alice, bob, mallory = (api.signup(name="앨리스"), api.signup(name="바비"),
                           api.signup(name="말로리"))
    server.call(_past_reports(alice.id, 10, timedelta(minutes=5)))
    assert error_code(report(alice.http, "USER", mallory.id)) == "RATE_LIMITED"
    filed(report(bob.http, "USER", mallory.id))


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "fields"), [
    ({"reason": "짧은 이유"}, {"reason"}),
    ({"reason": "가" * 1001}, {"reason"}),
    ({"reason": "  \u0000\u0001 열 글자가 안됨  "}, {"reason"}),
    ({"type": "spam"}, {"type"}),
    ({"type": "ABUSE", "target_type": "GROUP"}, {"type", "target_type"}),
    ({"target_id": ""}, {"target_id"}),
    ({"target_id": "a" * 33}, {"target_id"}),
    ({"target_id": "bad/id"}, {"target_id"}),
    ({"target_id": 12}, {"target_id"}),
    ({"evidence": ["https://example.com"]}, {"evidence"}),
    ({"evidence": "캡처"}, {"evidence"}),
    ({"evidence": {"note": "가" * 3500}}, {"evidence"}),
    ({"priority": "HIGH"}, {"priority"}),
    ({"reason": None, "type": None}, {"reason", "type"}),
])
def test_invalid_report_fields_are_rejected(api: Api, server: LiveServer,
                                            changes: dict[str, Any], fields: set[str]) -> None:
    alice, mallory = api.signup(name="앨리스"), api.signup(name="말로리")
    body = {"target_type": "USER", "target_id": mallory.id, "type": "SPAM", "reason": REASON,
            **changes}
    response = alice.http.post("/api/reports", json=body)
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == fields
    assert alice.http.get("/api/reports/mine").json()["pagination"]["total"] == 0


def test_missing_fields_are_all_named(api: Api) -> None:
    alice = api.signup(name="앨리스")
    response = alice.http.post("/api/reports", json={})
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {"target_type", "target_id", "type",
                                                       "reason"}


def test_reason_keeps_its_lines_and_evidence_up_to_10_kb_is_accepted(
        api: Api, server: LiveServer) -> None:
    alice, mallory = api.signup(name="앨리스"), api.signup(name="말로리")
    evidence = {"note": "a" * (10 * 1024 - len('{"note":""}'))}
    reason = "  첫 줄입니다.\n\t둘째 줄입니다.\u0007  "
    data = filed(report(alice.http, "USER", mallory.id, reason=reason, evidence=evidence))
    row = server.call(_report_row(data["id"]))
    assert row["reason"] == "첫 줄입니다.\n\t둘째 줄입니다."
    assert row["evidence"] == evidence


def test_anonymous_callers_cannot_report(api: Api) -> None:
    anonymous = api.anonymous()
    assert error_code(report(anonymous, "USER", "someone")) == "UNAUTHORIZED"
    assert error_code(anonymous.get("/api/reports/mine")) == "UNAUTHORIZED"


# --- my reports -------------------------------------------------------------------------------


def test_my_reports_show_the_outcome_but_not_the_resolution(api: Api,
                                                            server: LiveServer) -> None:
    alice, bob = api.signup(name="앨리스"), api.signup(name="바비")
    mallory, trudy = api.signup(name="말로리"), api.signup(name="트루디")
    older = filed(report(alice.http, "USER", mallory.id))
    newer = filed(report(alice.http, "USER", trudy.id))
    filed(report(bob.http, "USER", mallory.id))
    server.call(_close_report(older["id"], "RESOLVED", "내부 메모: 경고 1회"))

    response = alice.http.get("/api/reports/mine")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["data"]] == [newer["id"], older["id"]]
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 2, "total_pages": 1,
                                  "has_next": False, "has_prev": False}
    closed = body["data"][1]
    assert set(closed) == REPORT_KEYS | {"processed_at"}
    assert closed["status"] == "RESOLVED" and closed["processed_at"].endswith("Z")
    assert body["data"][0]["processed_at"] is None
    assert "내부 메모" not in response.text and "resolution" not in response.text
    for user in (alice, bob, mallory, trudy):
        assert user.email not in response.text


def test_my_reports_are_paginated(api: Api, server: LiveServer) -> None:
    alice = api.signup(name="앨리스")
    server.call(_past_reports(alice.id, 25, timedelta(days=3)))
    first = alice.http.get("/api/reports/mine").json()
    assert len(first["data"]) == 20 and first["pagination"]["total"] == 25
    second = alice.http.get("/api/reports/mine", params={"page": 2}).json()
    assert len(second["data"]) == 5 and second["pagination"]["has_prev"] is True
    assert {r["id"] for r in first["data"]}.isdisjoint(r["id"] for r in second["data"])
    assert error_code(alice.http.get("/api/reports/mine", params={"limit": 101})) == \
        "VALIDATION_ERROR"
