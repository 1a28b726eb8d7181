"""COUP.md §7.7: chat over REST (history with seq cursors, send, edit, delete, read cursors,
search) and its errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import Api, LiveServer, User, error_code
from tests.wsclient import (
    WsClient,
    chat_limit,
    create_file,
    insert_events,
    member_of,
    messages_in_db,
    new_client_id,
    restrict_user,
    set_study_status,
)


def post(user: User, study_id: str, content: str, **extra: object) -> httpx.Response:
    return user.http.post(f"/api/studies/{study_id}/chat", json={"content": content, **extra})


def send_many(server: LiveServer, user: User, study_id: str, count: int) -> list[dict]:
    with chat_limit(server, 1000):
        return [post(user, study_id, f"메시지 {n}").json()["data"] for n in range(count)]


def history(user: User, study_id: str, **params: object) -> httpx.Response:
    return user.http.get(f"/api/studies/{study_id}/chat", params=params)


def test_history_pages_by_seq_in_ascending_order(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    sent = send_many(server, owner, study["id"], 7)
    seqs = [m["seq"] for m in sent]
    latest = history(owner, study["id"], limit=3).json()
    assert [m["seq"] for m in latest["data"]] == seqs[-3:]
    assert latest["pagination"] == {"limit": 3, "has_more": True, "oldest_seq": seqs[-3],
                                    "newest_seq": seqs[-1], "latest_seq": seqs[-1]}
    older = history(owner, study["id"], before_seq=seqs[-3], limit=3).json()
    assert [m["seq"] for m in older["data"]] == seqs[1:4]
    assert older["pagination"]["has_more"] is True
    oldest = history(owner, study["id"], before_seq=seqs[1], limit=3).json()
    assert [m["seq"] for m in oldest["data"]] == seqs[:1]
    assert oldest["pagination"]["has_more"] is False
    newer = history(owner, study["id"], after_seq=seqs[2], limit=3).json()
    assert [m["seq"] for m in newer["data"]] == seqs[3:6]
    assert newer["pagination"]["has_more"] is True
    tail = history(owner, study["id"], after_seq=seqs[-1]).json()
    assert tail["data"] == [] and tail["pagination"]["has_more"] is False
    assert tail["pagination"]["oldest_seq"] is None and tail["pagination"]["newest_seq"] is None
    assert history(owner, study["id"]).json()["pagination"]["limit"] == 50


def test_history_leaves_out_deleted_messages_and_other_events(api: Api,
                                                              server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    first, second = send_many(server, owner, study["id"], 2)
    insert_events(server, study["id"], 3)  # seqs used by other events: gaps are normal
    third = post(owner, study["id"], "뒤에").json()["data"]
    assert owner.http.delete(f"/api/studies/{study['id']}/chat/{second['id']}").status_code == 200
    page = history(owner, study["id"]).json()
    assert [m["id"] for m in page["data"]] == [first["id"], third["id"]]
    assert third["seq"] == second["seq"] + 4
    assert page["pagination"]["latest_seq"] == third["seq"] + 1  # the delete event


@pytest.mark.parametrize("params", [
    {"before_seq": 5, "after_seq": 1}, {"limit": 0}, {"limit": 101}, {"limit": "x"},
    {"before_seq": "abc"}, {"after_seq": -1},
])
def test_history_rejects_bad_cursors(api: Api, server: LiveServer, params: dict) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    response = history(owner, study["id"], **params)
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"


def test_history_needs_active_membership(api: Api, server: LiveServer) -> None:
    owner, stranger = api.signup(), api.signup()
    public, private = api.create_study(owner), api.create_study(owner, is_public=False)
    assert error_code(history(stranger, public["id"])) == "NOT_MEMBER"
    assert history(stranger, private["id"]).status_code == 404
    assert history(stranger, "missing").status_code == 404
    assert api.anonymous().get(f"/api/studies/{public['id']}/chat").status_code == 401


def test_post_creates_201_and_a_replay_returns_the_original(api: Api,
                                                            server: LiveServer) -> None:
    owner = api.signup(name="보내는이")
    study = api.create_study(owner)
    client_id = new_client_id()
    created = post(owner, study["id"], "  안녕 ; SELECT 1 ...  ", client_id=client_id)
    assert created.status_code == 201
    message = created.json()["data"]
    assert message["content"] == "안녕 ; SELECT 1 ..." and message["client_id"] == client_id
    assert set(message) == {"id", "client_id", "study_id", "seq", "user", "content", "file",
                            "created_at", "updated_at", "edited"}
    replay = post(owner, study["id"], "다른 내용", client_id=client_id)
    assert replay.json()["data"] == message
    generated = post(owner, study["id"], "아이디 없이").json()["data"]
    assert 8 <= len(generated["client_id"]) <= 64
    assert len(messages_in_db(server, study["id"])) == 2


def test_post_replay_answers_200(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    client_id = new_client_id()
    assert post(owner, study["id"], "처음", client_id=client_id).status_code == 201
    assert post(owner, study["id"], "다시", client_id=client_id).status_code == 200


def test_post_reaches_the_room_like_a_websocket_message(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with WsClient.open(server, owner.token) as ws:
        ws.ok("study:join", {"study_id": study["id"]})
        message = post(owner, study["id"], "REST에서").json()["data"]
        assert ws.expect("chat:new-message") == {"study_id": study["id"], "seq": message["seq"],
                                                 "message": message}


@pytest.mark.parametrize(("body", "field"), [
    ({"content": ""}, "content"),
    ({"content": "가" * 2001}, "content"),
    ({"content": 7}, "content"),
    ({"content": "ok", "client_id": "bad id!"}, "client_id"),
    ({"content": "ok", "client_id": "short"}, "client_id"),
    ({"content": "ok", "colour": "red"}, "colour"),
    ({"file_id": "not-a-file"}, "file_id"),
])
def test_post_validation_errors_name_the_field(api: Api, server: LiveServer, body: dict,
                                               field: str) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    response = owner.http.post(f"/api/studies/{study['id']}/chat", json=body)
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"
    assert field in response.json()["error"]["fields"]


def test_post_with_a_file_only(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    file_id = create_file(server, study["id"], owner.id, "자료.pdf")
    message = owner.http.post(f"/api/studies/{study['id']}/chat",
                              json={"file_id": file_id}).json()["data"]
    assert message["content"] == "" and message["file"]["id"] == file_id
    assert message["file"]["url"] == f"/api/studies/{study['id']}/files/{file_id}/download"


def test_post_errors_closed_restricted_rate_limited(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    for n in range(5):
        assert post(owner, study["id"], f"m{n}").status_code == 201
    limited = post(owner, study["id"], "여섯")
    assert limited.status_code == 429 and error_code(limited) == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["details"]["retry_after_ms"] > 0
    restricted = post(owner, study["id"], "", client_id="not valid!")  # order: before input
    assert restricted.status_code == 400  # not restricted yet: plain validation
    restrict_user(server, owner.id, ["MESSAGE"])
    assert error_code(post(owner, study["id"], "")) == "RESTRICTED"
    set_study_status(server, study["id"], "CLOSED")
    assert error_code(post(owner, study["id"], "")) == "STUDY_CLOSED"


def test_patch_edits_own_messages_only(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study, other = api.create_study(owner), api.create_study(owner)
    member = member_of(api, study)
    message = post(member, study["id"], "원문").json()["data"]
    url = f"/api/studies/{study['id']}/chat/{message['id']}"
    assert error_code(owner.http.patch(url, json={"content": "남의 것"})) == "FORBIDDEN"
    edited = member.http.patch(url, json={"content": "수정본"})
    assert edited.status_code == 200
    data = edited.json()["data"]
    assert data["content"] == "수정본" and data["edited"] is True and data["seq"] == message["seq"]
    assert error_code(member.http.patch(url, json={"content": ""})) == "VALIDATION_ERROR"
    assert error_code(member.http.patch(url, json={"text": "x"})) == "VALIDATION_ERROR"
    wrong_study = f"/api/studies/{other['id']}/chat/{message['id']}"
    assert owner.http.patch(wrong_study, json={"content": "x"}).status_code == 404
    set_study_status(server, study["id"], "CLOSED")
    assert error_code(member.http.patch(url, json={"content": "닫힘"})) == "STUDY_CLOSED"


def test_delete_by_author_or_study_admin(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member, other = member_of(api, study), member_of(api, study)
    mine = post(member, study["id"], "지울 것").json()["data"]
    theirs = post(member, study["id"], "관리자가 지울 것").json()["data"]
    base = f"/api/studies/{study['id']}/chat"
    assert error_code(other.http.delete(f"{base}/{mine['id']}")) == "FORBIDDEN"
    deleted = member.http.delete(f"{base}/{mine['id']}")
    assert deleted.status_code == 200 and deleted.json()["data"] is None
    assert owner.http.delete(f"{base}/{theirs['id']}").status_code == 200
    assert member.http.delete(f"{base}/{mine['id']}").status_code == 404
    assert member.http.patch(f"{base}/{mine['id']}", json={"content": "x"}).status_code == 404
    set_study_status(server, study["id"], "CLOSED")
    late = post(other, study["id"], "x")
    assert late.status_code == 409


def test_read_moves_the_cursor_forward_only(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    sent = send_many(server, owner, study["id"], 3)
    base = f"/api/studies/{study['id']}/chat"
    middle = member.http.post(f"{base}/{sent[1]['id']}/read").json()["data"]
    assert middle == {"last_read_seq": sent[1]["seq"], "unread_messages": 1}
    back = member.http.post(f"{base}/{sent[0]['id']}/read").json()["data"]
    assert back == {"last_read_seq": sent[1]["seq"], "unread_messages": 1}
    assert member.http.post(f"{base}/missing/read").status_code == 404
    cursors = member.http.get(f"{base}/read-cursors").json()["data"]
    assert sorted(cursors, key=lambda c: c["user_id"]) == sorted(
        [{"user_id": owner.id, "last_read_seq": 0},
         {"user_id": member.id, "last_read_seq": sent[1]["seq"]}], key=lambda c: c["user_id"])
    stranger = api.signup()
    assert error_code(stranger.http.get(f"{base}/read-cursors")) == "NOT_MEMBER"
    assert error_code(stranger.http.post(f"{base}/{sent[0]['id']}/read")) == "NOT_MEMBER"


def test_read_pushes_message_read_to_the_room(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    message = post(owner, study["id"], "읽음 표시").json()["data"]
    with WsClient.open(server, owner.token) as ws:
        ws.ok("study:join", {"study_id": study["id"]})
        member.http.post(f"/api/studies/{study['id']}/chat/{message['id']}/read")
        assert ws.expect("chat:message-read") == {"study_id": study["id"],
                                                  "user_id": member.id, "seq": message["seq"]}


def search(user: User, study_id: str, **params: object) -> httpx.Response:
    return user.http.get(f"/api/studies/{study_id}/chat/search", params=params)


def test_search_filters_newest_first(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with chat_limit(server, 1000):
        a = post(owner, study["id"], "Python 스터디 공지").json()["data"]
        post(member, study["id"], "점심 메뉴").json()
        c = post(member, study["id"], "python은 100% 재밌다_정말").json()["data"]
        d = post(owner, study["id"], "삭제될 python").json()["data"]
    owner.http.delete(f"/api/studies/{study['id']}/chat/{d['id']}")
    found = search(owner, study["id"], q="PYTHON").json()
    assert [m["id"] for m in found["data"]] == [c["id"], a["id"]]
    assert found["pagination"]["total"] == 2 and found["pagination"]["limit"] == 20
    assert [m["id"] for m in search(owner, study["id"], q="100%").json()["data"]] == [c["id"]]
    assert [m["id"] for m in search(owner, study["id"], q="_").json()["data"]] == [c["id"]]
    by_user = search(owner, study["id"], user_id=member.id).json()["data"]
    assert {m["user"]["id"] for m in by_user} == {member.id} and len(by_user) == 2
    today = datetime.now(ZoneInfo(server.settings.timezone)).date()
    everything = search(owner, study["id"], start_date=str(today), end_date=str(today))
    assert everything.json()["pagination"]["total"] == 3
    tomorrow = str(today + timedelta(days=1))
    assert search(owner, study["id"], start_date=tomorrow).json()["data"] == []
    yesterday = str(today - timedelta(days=1))
    assert search(owner, study["id"], end_date=yesterday).json()["data"] == []


@pytest.mark.parametrize("params", [
    {"q": "x" * 101}, {"start_date": "2025-13-01"}, {"end_date": "yesterday"},
    {"start_date": "2025-03-02", "end_date": "2025-03-01"}, {"limit": 0}, {"page": 0},
])
def test_search_rejects_bad_filters(api: Api, server: LiveServer, params: dict) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    response = search(owner, study["id"], **params)
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"


def test_search_needs_membership(api: Api, server: LiveServer) -> None:
    owner, stranger = api.signup(), api.signup()
    study = api.create_study(owner)
    assert error_code(search(stranger, study["id"], q="a")) == "NOT_MEMBER"


def test_rest_edit_and_delete_push_the_same_events(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    file_id = create_file(server, study["id"], owner.id)
    with WsClient.open(server, owner.token) as ws:
        ws.ok("study:join", {"study_id": study["id"]})
        message = owner.http.post(f"/api/studies/{study['id']}/chat",
                                  json={"content": "설명", "file_id": file_id}).json()["data"]
        ws.expect("chat:new-message")
        url = f"/api/studies/{study['id']}/chat/{message['id']}"
        edited = owner.http.patch(url, json={"content": ""})  # a file keeps it non-empty
        assert edited.status_code == 200, edited.text
        assert edited.json()["data"]["content"] == ""
        updated = ws.expect("chat:message-updated")
        assert updated["message"] == edited.json()["data"]
        assert updated["seq"] == message["seq"] + 1
        assert owner.http.delete(url).status_code == 200
        assert ws.expect("chat:message-deleted") == {"study_id": study["id"],
                                                     "seq": message["seq"] + 2,
                                                     "message_id": message["id"]}
