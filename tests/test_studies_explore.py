"""Explore (COUP.md §7.3 `GET /api/studies`) through the real server, on SQLite and PostgreSQL:
visibility, search, category aliases, recruiting filter, sorting, pagination and exclude_mine."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from coup.store.fields import utcnow
from tests.conftest import Api, LiveServer, error_code
from tests.test_studies import add_member, assert_no_email, set_study


def _explore(http: Any, **params: Any) -> Any:
    response = http.get("/api/studies", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _names(body: Any) -> list[str]:
    return [s["name"] for s in body["data"]]


@pytest.fixture()
def token() -> str:
    """A word no other test's study contains, so explore results are this test's only."""
    return f"q{secrets.token_hex(4)}"


def test_explore_lists_only_public_visible_active_studies(api: Api, server: LiveServer,
                                                          token: str) -> None:
    owner = api.signup()
    made = {kind: api.create_study(owner, name=f"{kind} {token}", is_public=kind != "private")
            for kind in ("public", "private", "hidden", "closed", "deleted")}
    server.call(set_study(made["hidden"]["id"], is_hidden=True))
    server.call(set_study(made["closed"]["id"], status="CLOSED"))
    owner.http.delete(f"/api/studies/{made['deleted']['id']}")
    body = _explore(api.anonymous(), search=token)
    assert _names(body) == [f"public {token}"]
    assert body["pagination"]["total"] == 1
    assert body["data"][0]["my_status"] is None
    assert_no_email(body)
    assert _explore(owner.http, search=token)["data"][0]["my_status"] == "ACTIVE"


def test_explore_search_matches_name_description_or_an_exact_tag(api: Api, token: str) -> None:
    owner = api.signup()
    api.create_study(owner, name=f"N-{token.upper()}")
    api.create_study(owner, name="설명으로 찾기", description=f"이 설명에 {token} 이 있어요")
    api.create_study(owner, name="태그로 찾기", tags=["기타", f"Tag{token}"])
    api.create_study(owner, name="부분 태그", tags=[f"x{token}x"])
    found = _names(_explore(api.anonymous(), search=token, limit=100))
    assert sorted(found) == sorted([f"N-{token.upper()}", "설명으로 찾기"])
    by_tag = _names(_explore(api.anonymous(), search=f"TAG{token.upper()}"))
    assert by_tag == ["태그로 찾기"]
    assert _names(_explore(api.anonymous(), search=f"{token}%")) == []  # no LIKE wildcards


def test_explore_category_filter_accepts_aliases_and_all(api: Api, token: str) -> None:
    owner = api.signup()
    for name, category, sub in (("dev", "개발", "웹"), ("read", "교양/취미", "독서"),
                                ("draw", "교양/취미", "그림"), ("lang", "언어", None)):
        api.create_study(owner, name=f"{name} {token}", category=category, sub_category=sub)

    def names(**params: Any) -> list[str]:
        return sorted(n.split()[0] for n in _names(_explore(api.anonymous(), search=token,
                                                             **params)))

    assert names() == names(category="전체") == ["dev", "draw", "lang", "read"]
    assert names(category="개발") == names(category="프로그래밍") == ["dev"]
    assert names(category="어학") == ["lang"]
    assert names(category="취미") == ["draw", "read"]
    assert names(category="독서") == ["read"]
    assert names(category="교양/취미", sub_category="그림") == ["draw"]
    assert names(category="교양/취미", sub_category="전체") == ["draw", "read"]
    assert names(sub_category="웹") == ["dev"]
    for params in ({"category": "요리"}, {"category": "개발", "sub_category": "그림"},
                   {"sub_category": "없음"}):
        response = api.anonymous().get("/api/studies", params=params)
        assert error_code(response) == "VALIDATION_ERROR", params


def test_explore_recruiting_filter_counts_active_members(api: Api, server: LiveServer,
                                                         token: str) -> None:
    owner, a, b = api.signup(), api.signup(), api.signup()
    open_ = api.create_study(owner, name=f"open {token}", max_members=2)
    paused = api.create_study(owner, name=f"paused {token}", is_recruiting=False)
    full = api.create_study(owner, name=f"full {token}", max_members=2)
    server.call(add_member(open_["id"], a.id, status="PENDING"))  # PENDING does not count
    server.call(add_member(full["id"], b.id))

    def names(recruiting: str) -> list[str]:
        body = _explore(api.anonymous(), search=token, recruiting=recruiting)
        return sorted(n.split()[0] for n in _names(body))

    assert names("recruiting") == ["open"]
    assert names("closed") == ["full", "paused"]
    assert names("all") == ["full", "open", "paused"]
    states = {s["id"]: s["recruiting_state"] for s in _explore(api.anonymous(),
                                                               search=token)["data"]}
    assert (states[open_["id"]], states[full["id"]], states[paused["id"]]) == (
        "recruiting", "closed", "closed")


def test_explore_sorts_by_latest_or_by_popularity(api: Api, server: LiveServer,
                                                  token: str) -> None:
    owner = api.signup()
    helpers = [api.signup() for _ in range(2)]
    one = api.create_study(owner, name=f"one {token}")
    older_big = api.create_study(owner, name=f"older {token}")
    newer_big = api.create_study(owner, name=f"newer {token}")
    for study in (older_big, newer_big):
        for user in helpers:
            server.call(add_member(study["id"], user.id))
    server.call(set_study(one["id"], created_at=utcnow() + timedelta(minutes=5)))
    latest = _names(_explore(api.anonymous(), search=token))
    assert [n.split()[0] for n in latest] == ["one", "newer", "older"]
    popular = _explore(api.anonymous(), search=token, sort="popular")["data"]
    assert [s["name"].split()[0] for s in popular] == ["newer", "older", "one"]
    assert [s["current_members"] for s in popular] == [3, 3, 1]


def test_explore_paginates_with_a_total(api: Api, token: str) -> None:
    owner = api.signup()
    for index in range(5):
        api.create_study(owner, name=f"p{index} {token}")
    body = _explore(api.anonymous(), search=token, page=2, limit=2)
    assert len(body["data"]) == 2
    assert body["pagination"] == {"page": 2, "limit": 2, "total": 5, "total_pages": 3,
                                  "has_next": True, "has_prev": True}
    past = _explore(api.anonymous(), search=token, page=4, limit=2)
    assert past["data"] == [] and past["pagination"]["total"] == 5
    for params in ({"limit": 0}, {"limit": 101}, {"page": 0}, {"page": "x"}):
        assert error_code(api.anonymous().get("/api/studies", params=params)) == (
            "VALIDATION_ERROR")


def test_explore_exclude_mine_leaves_out_active_and_pending_studies(
        api: Api, server: LiveServer, token: str) -> None:
    owner, me = api.signup(), api.signup()
    made = {kind: api.create_study(owner, name=f"{kind} {token}")
            for kind in ("active", "pending", "left", "other")}
    server.call(add_member(made["active"]["id"], me.id))
    server.call(add_member(made["pending"]["id"], me.id, status="PENDING"))
    server.call(add_member(made["left"]["id"], me.id, status="LEFT"))
    mine = {s["name"].split()[0]: s["my_status"] for s in _explore(me.http, search=token)["data"]}
    assert mine == {"active": "ACTIVE", "pending": "PENDING", "left": "LEFT", "other": None}
    kept = _names(_explore(me.http, search=token, exclude_mine="true"))
    assert sorted(n.split()[0] for n in kept) == ["left", "other"]
    assert len(_explore(api.anonymous(), search=token, exclude_mine="true")["data"]) == 4


def test_explore_rejects_bad_query_values(api: Api) -> None:
    response = api.anonymous().get("/api/studies", params={
        "recruiting": "open", "sort": "oldest", "exclude_mine": "yes", "search": "x" * 51})
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {"recruiting", "sort", "exclude_mine",
                                                       "search"}
