"""Study invite codes (COUP.md §7.4) through the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from coup.errors import ApiError
from coup.store.db import db_task
from coup.store.invites import INVITE_ALPHABET, check_invite_code
from coup.store.models import Study
from tests.conftest import Api, LiveServer, User, error_code, override_limit
from tests.test_studies import add_member, assert_no_email, set_study, study_row

# --- helpers ----------------------------------------------------------------------------------


@db_task
def _check_code(study_id: str, code: str) -> str | None:
    """check_invite_code as the join flow calls it: the error code it raises, or None."""
    try:
        check_invite_code(Study.get_by_id(study_id), code)
    except ApiError as exc:
        return exc.code
    return None


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def _invite_url(study_id: str) -> str:
    return f"/api/studies/{study_id}/invite"


def _create(owner: User, study_id: str, **body: Any) -> dict[str, Any]:
    response = owner.http.post(_invite_url(study_id), json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


@pytest.fixture()
def limiter(server: LiveServer) -> Iterator[None]:
    """A fresh, roomy look-up limiter per test, so earlier failures never spill over."""
    with override_limit(server, "invite_lookup", 10_000, 600):
        yield


# --- create, view, regenerate, revoke ---------------------------------------------------------


def test_create_invite_returns_the_invite_object(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    response = owner.http.post(_invite_url(study["id"]))  # no body: every default
    assert response.status_code == 201, response.text
    invite = response.json()["data"]
    code = invite["invite_code"]
    assert len(code) == 8 and set(code) <= set(INVITE_ALPHABET)
    assert invite["invite_url"] == (
        f"{server.settings.app_url}/studies/{study['id']}/join?code={code}")
    assert (invite["study_id"], invite["study_name"]) == (study["id"], study["name"])
    assert (invite["max_uses"], invite["used_count"], invite["available_slots"],
            invite["state"]) == (10, 0, 10, "active")
    assert invite["created_by"] == {"id": owner.id, "name": owner.name, "avatar": None}
    lifetime = _instant(invite["expires_at"]) - _instant(invite["created_at"])
    assert lifetime == timedelta(hours=168)
    assert_no_email(invite)
    assert server.call(study_row(study["id"]))["invite_code"] == code
    assert owner.http.get(_invite_url(study["id"])).json()["data"] == invite


def test_max_uses_is_lowered_to_the_free_slots(api: Api, server: LiveServer) -> None:
    owner, member = api.signup(), api.signup()
    study = api.create_study(owner, max_members=4)
    server.call(add_member(study["id"], member.id))
    invite = _create(owner, study["id"], max_uses=50, expires_in_hours=2)
    assert (invite["max_uses"], invite["available_slots"]) == (2, 2)
    assert _instant(invite["expires_at"]) - _instant(invite["created_at"]) == timedelta(hours=2)


def test_creating_again_replaces_the_code_and_resets_uses(api: Api, server: LiveServer,
                                                          limiter: None) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    first = _create(owner, study["id"])
    server.call(set_study(study["id"], invite_code_used_count=3))
    second = _create(owner, study["id"], max_uses=5)
    assert second["invite_code"] != first["invite_code"]
    assert (second["used_count"], second["max_uses"]) == (0, 5)
    stale = api.anonymous().get(f"/api/studies/join/{first['invite_code']}")
    assert error_code(stale) == "INVITE_NOT_FOUND"


def test_invite_input_is_validated(api: Api) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    for body in ({"expires_in_hours": 0}, {"expires_in_hours": 721}, {"max_uses": 0},
                 {"max_uses": 101}, {"max_uses": "5"}, {"code": "ABCDEFGH"}):
        for path in (_invite_url(study["id"]), f"{_invite_url(study['id'])}/regenerate"):
            response = owner.http.post(path, json=body)
            assert error_code(response) == "VALIDATION_ERROR", (path, body)
    assert owner.http.get(_invite_url(study["id"])).json()["data"] is None


def test_full_or_closed_studies_get_no_new_code(api: Api, server: LiveServer) -> None:
    owner, member = api.signup(), api.signup()
    study = api.create_study(owner, max_members=2)
    server.call(add_member(study["id"], member.id))
    for path in (_invite_url(study["id"]), f"{_invite_url(study['id'])}/regenerate"):
        response = owner.http.post(path, json={})
        assert response.status_code == 409 and error_code(response) == "STUDY_FULL"
    closed = api.create_study(owner)
    _create(owner, closed["id"])
    server.call(set_study(closed["id"], status="CLOSED"))
    for path in (_invite_url(closed["id"]), f"{_invite_url(closed['id'])}/regenerate"):
        assert error_code(owner.http.post(path, json={})) == "STUDY_CLOSED"
    assert owner.http.get(_invite_url(closed["id"])).json()["data"]["state"] == "active"
    # Revoking only takes access away, so it works in a CLOSED study.
    assert owner.http.delete(_invite_url(closed["id"])).status_code == 200


def test_invite_management_needs_a_study_admin(api: Api, server: LiveServer) -> None:
    owner, admin, member, outsider = (api.signup() for _ in range(4))
    public = api.create_study(owner)
    private = api.create_study(owner, is_public=False)
    for study in (public, private):
        server.call(add_member(study["id"], admin.id, role="ADMIN"))
        server.call(add_member(study["id"], member.id))
    calls = (("post", ""), ("get", ""), ("delete", ""), ("post", "/regenerate"))
    for study in (public, private):
        base = _invite_url(study["id"])
        for method, suffix in calls:
            send = {"json": {}} if method == "post" else {}
            assert error_code(getattr(member.http, method)(base + suffix, **send)) == "FORBIDDEN"
            expected = "NOT_MEMBER" if study is public else "NOT_FOUND"
            assert error_code(getattr(outsider.http, method)(base + suffix, **send)) == expected
            anonymous = getattr(api.anonymous(), method)(base + suffix, **send)
            assert error_code(anonymous) == "UNAUTHORIZED"
    made = _create(admin, private["id"])
    assert made["created_by"]["id"] == admin.id
    assert owner.http.get(_invite_url(private["id"])).json()["data"]["invite_code"] == (
        made["invite_code"])
    assert error_code(api.anonymous().get("/api/studies/nope/invite")) == "UNAUTHORIZED"
    assert error_code(owner.http.get("/api/studies/nope/invite")) == "NOT_FOUND"


def test_regenerate_keeps_max_uses_and_lifetime_when_omitted(api: Api,
                                                             server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    first = _create(owner, study["id"], expires_in_hours=48, max_uses=5)
    server.call(set_study(study["id"], invite_code_used_count=2))
    response = owner.http.post(f"{_invite_url(study['id'])}/regenerate")
    assert response.status_code == 201, response.text
    again = response.json()["data"]
    assert again["invite_code"] != first["invite_code"]
    assert (again["max_uses"], again["used_count"], again["state"]) == (5, 0, "active")
    assert _instant(again["expires_at"]) - _instant(again["created_at"]) == timedelta(hours=48)
    changed = owner.http.post(f"{_invite_url(study['id'])}/regenerate",
                              json={"max_uses": 7, "expires_in_hours": 1}).json()["data"]
    assert changed["max_uses"] == 7
    assert _instant(changed["expires_at"]) - _instant(changed["created_at"]) == timedelta(hours=1)
    fresh = api.create_study(owner)
    defaults = owner.http.post(f"{_invite_url(fresh['id'])}/regenerate").json()["data"]
    assert defaults["max_uses"] == 10
    assert _instant(defaults["expires_at"]) - _instant(defaults["created_at"]) == timedelta(
        hours=168)


def test_revoke_removes_the_code(api: Api, server: LiveServer, limiter: None) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    code = _create(owner, study["id"])["invite_code"]
    response = owner.http.delete(_invite_url(study["id"]))
    assert response.status_code == 200 and response.json()["data"] is None
    assert owner.http.get(_invite_url(study["id"])).json()["data"] is None
    row = server.call(study_row(study["id"]))
    assert (row["invite_code"], row["invite_code_max_uses"], row["invite_code_created_by"]) == (
        None, None, None)
    assert error_code(api.anonymous().get(f"/api/studies/join/{code}")) == "INVITE_NOT_FOUND"
    assert error_code(owner.http.delete(_invite_url(study["id"]))) == "NOT_FOUND"


def test_invite_changes_append_no_study_events(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    _create(owner, study["id"])
    owner.http.post(f"{_invite_url(study['id'])}/regenerate")
    owner.http.delete(_invite_url(study["id"]))
    assert server.call(study_row(study["id"]))["last_seq"] == 0


# --- preview and redemption checks ------------------------------------------------------------


def test_preview_shows_a_private_study_to_anyone_with_the_code(api: Api, server: LiveServer,
                                                               limiter: None) -> None:
    owner, member = api.signup(), api.signup()
    study = api.create_study(owner, is_public=False, max_members=5)
    server.call(add_member(study["id"], member.id))
    invite = _create(owner, study["id"], max_uses=2)
    response = api.anonymous().get(f"/api/studies/join/{invite['invite_code'].lower()}")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["study"]["id"], data["study"]["current_members"], data["study"]["my_status"]) \
        == (study["id"], 2, None)
    assert data["invite"] == {"expires_at": invite["expires_at"], "available_slots": 2}
    assert_no_email(data)
    mine = member.http.get(f"/api/studies/join/{invite['invite_code']}").json()["data"]
    assert mine["study"]["my_status"] == "ACTIVE"


def test_preview_errors_for_unusable_codes(api: Api, server: LiveServer, limiter: None) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    code = _create(owner, study["id"])["invite_code"]
    url = f"/api/studies/join/{code}"
    for missing in ("ZZZZZZZZ", "abc", "ABCDEFG0"):
        response = api.anonymous().get(f"/api/studies/join/{missing}")
        assert response.status_code == 404 and error_code(response) == "INVITE_NOT_FOUND"
    server.call(set_study(study["id"], invite_code_used_count=10))
    response = api.anonymous().get(url)
    assert response.status_code == 410 and error_code(response) == "INVITE_EXHAUSTED"
    assert server.call(_check_code(study["id"], code)) == "INVITE_EXHAUSTED"
    server.call(set_study(study["id"], invite_code_expires_at=datetime(2020, 1, 1)))
    response = api.anonymous().get(url)
    assert response.status_code == 410 and error_code(response) == "INVITE_EXPIRED"
    assert server.call(_check_code(study["id"], code)) == "INVITE_EXPIRED"
    server.call(set_study(study["id"], invite_code_used_count=0,
                           invite_code_expires_at=datetime(2999, 1, 1), is_hidden=True))
    assert error_code(api.anonymous().get(url)) == "INVITE_NOT_FOUND"
    assert server.call(_check_code(study["id"], code)) == "INVITE_NOT_FOUND"
    server.call(set_study(study["id"], is_hidden=False, status="DELETED"))
    assert error_code(api.anonymous().get(url)) == "INVITE_NOT_FOUND"


def test_check_invite_code_matches_only_this_studys_active_code(api: Api,
                                                                server: LiveServer) -> None:
    owner = api.signup()
    study, other = api.create_study(owner), api.create_study(owner)
    code = _create(owner, study["id"])["invite_code"]
    other_code = _create(owner, other["id"])["invite_code"]
    assert server.call(_check_code(study["id"], code.lower())) is None
    assert server.call(_check_code(study["id"], other_code)) == "INVITE_NOT_FOUND"
    server.call(set_study(study["id"], status="CLOSED"))
    assert server.call(_check_code(study["id"], code)) is None  # the join flow says CLOSED


def test_joining_with_a_code_uses_it_up(api: Api, server: LiveServer, limiter: None) -> None:
    owner, first, second = api.signup(), api.signup(), api.signup()
    study = api.create_study(owner, is_public=False, auto_approve=False)
    code = _create(owner, study["id"], max_uses=1)["invite_code"]
    joined = api.join(first, study["id"], invite_code=code.lower())
    assert joined.status_code == 201, joined.text
    assert joined.json()["data"]["via_invite"] is True
    invite = owner.http.get(_invite_url(study["id"])).json()["data"]
    assert (invite["used_count"], invite["state"], invite["available_slots"]) == (
        1, "exhausted", 0)
    assert error_code(api.join(second, study["id"], invite_code=code)) == "INVITE_EXHAUSTED"
    assert error_code(api.anonymous().get(f"/api/studies/join/{code}")) == "INVITE_EXHAUSTED"


def test_failed_lookups_are_rate_limited_per_ip(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    code = _create(owner, study["id"])["invite_code"]
    with override_limit(server, "invite_lookup", 3, 600):
        for _ in range(5):  # successful look-ups do not count
            assert api.anonymous().get(f"/api/studies/join/{code}").status_code == 200
        for _ in range(3):
            assert error_code(api.anonymous().get("/api/studies/join/ZZZZZZZZ")) == (
                "INVITE_NOT_FOUND")
        limited = api.anonymous().get(f"/api/studies/join/{code}")
        assert limited.status_code == 429 and error_code(limited) == "RATE_LIMITED"
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["details"]["retry_after_ms"] > 0
