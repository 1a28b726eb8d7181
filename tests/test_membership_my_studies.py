"""My studies (COUP.md §7.6): filters, order, the StudySummary extras and the counters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from coup.pagination import PageRequest
from coup.store import membership_reads
from coup.store.db import db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import Message, Notice, Study, StudyReadCursor
from tests.conftest import Api, LiveServer, count_queries, error_code
from tests.conftest import User as ApiUser
from tests.membership_support import World, data, make_world


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


@db_transaction
def _post_messages(study_id: str, messages: list[tuple[str, int, bool, int]]) -> None:
    """(author id, seq, deleted, hours ago) per message; last_seq follows the newest."""
    now = utcnow()
    for author_id, seq, deleted, hours_ago in messages:
        moment = now - timedelta(hours=hours_ago)
        Message.create(id=new_id(), study=study_id, user=author_id, client_id=new_id(),
                       seq=seq, content=f"메시지 {seq}", created_at=moment, updated_at=moment,
                       deleted_at=now if deleted else None)
    Study.update(last_seq=max(m[1] for m in messages)).where(Study.id == study_id).execute()


@db_transaction
def _post_notices(study_id: str, author_id: str, days_ago: list[int]) -> None:
    now = utcnow()
    for days in days_ago:
        moment = now - timedelta(days=days)
        Notice.create(id=new_id(), study=study_id, author=author_id, title="공지",
                      content="내용", created_at=moment, updated_at=moment)


@db_transaction
def _set_cursor(study_id: str, user_id: str, seq: int) -> None:
    StudyReadCursor.create(id=new_id(), study=study_id, user=user_id, last_read_seq=seq)


def _my_studies(user: ApiUser, query: str = "") -> Any:
    return user.http.get(f"/api/my-studies{query}")


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["study"]["id"] for item in items]


def test_my_studies_filters_and_order(world: World) -> None:
    me = world.user("나자신")
    host = world.user("호스트")
    member_of = world.new_study(owner=host)
    world.add(me, joined_minutes_ago=30, study_id=member_of)
    own = world.new_study(owner=me)  # joined now: the most recent
    admin_of = world.new_study(owner=host)
    world.add(me, role="ADMIN", joined_minutes_ago=60, study_id=admin_of)
    hidden = world.new_study(owner=host, is_hidden=True)
    world.add(me, joined_minutes_ago=90, study_id=hidden)
    applied = world.new_study(owner=host)
    world.add(me, status="PENDING", joined_minutes_ago=500, study_id=applied)
    for status in ("LEFT", "KICKED"):
        world.add(me, status=status, study_id=world.new_study(owner=host))
    world.add(me, study_id=world.new_study(owner=host, status="DELETED"))

    everything = data(_my_studies(me))
    assert _ids(everything) == [applied, own, member_of, admin_of, hidden]
    assert _ids(data(_my_studies(me, "?filter=active"))) == [own, member_of, admin_of, hidden]
    assert _ids(data(_my_studies(me, "?filter=admin"))) == [own, admin_of]
    assert _ids(data(_my_studies(me, "?filter=pending"))) == [applied]
    response = _my_studies(me, "?limit=2&page=2")
    assert _ids(data(response)) == [member_of, admin_of]
    assert response.json()["pagination"]["total"] == 5
    assert _my_studies(me).json()["pagination"]["limit"] == 50
    hidden_item = next(i for i in everything if i["study"]["id"] == hidden)
    assert hidden_item["study"]["is_hidden"] is True
    for bad in ("?filter=ALL", "?filter=left", "?limit=0"):
        assert error_code(_my_studies(me, bad)) == "VALIDATION_ERROR"
    assert error_code(world.api.anonymous().get("/api/my-studies")) == "UNAUTHORIZED"


def test_my_studies_item_shape_and_counters(world: World) -> None:
    me = world.member(name="나자신")
    other = world.member(name="다른멤버")
    world.server.call(_post_messages(world.study_id, [
        (other.id, 1, False, 1), (other.id, 2, False, 1), (other.id, 3, False, 1),
        (me.id, 4, False, 1), (other.id, 5, True, 1), (other.id, 6, False, 30),
    ]))
    world.server.call(_post_notices(world.study_id, world.owner.id, [0, 6, 8]))
    world.server.call(_set_cursor(world.study_id, me.id, 2))
    applied = world.new_study(owner=other)
    world.add(me, status="PENDING", study_id=applied)

    items = data(_my_studies(me))

    pending, active = items
    assert set(active) == {"membership_id", "role", "status", "applied_at", "joined_at",
                           "approved_at", "study"}
    assert (active["role"], active["status"]) == ("MEMBER", "ACTIVE")
    assert active["membership_id"] == world.row(me)["id"]
    study = active["study"]
    assert study["id"] == world.study_id and study["current_members"] == 3
    assert study["owner"]["id"] == world.owner.id and study["my_status"] == "ACTIVE"
    assert study["recruiting_state"] == "recruiting" and study["is_hidden"] is False
    # Last 24 h and not deleted: seqs 1-4. Notices of the last 7 days: 2.
    assert (study["new_messages"], study["new_notices"]) == (4, 2)
    # By others, not deleted, above the cursor (2): seqs 3 and 6.
    assert study["unread_messages"] == 2
    assert study["last_seq"] == 6
    assert pending["status"] == "PENDING" and pending["study"]["id"] == applied
    assert pending["joined_at"] is None and pending["study"]["my_status"] == "PENDING"
    for counter in ("new_messages", "new_notices", "unread_messages"):
        assert pending["study"][counter] is None
    assert pending["study"]["last_seq"] == 0
    # Without a read cursor every message by others counts as unread.
    assert data(_my_studies(other))[1]["study"]["unread_messages"] == 1


def test_my_studies_page_costs_the_same_queries_for_few_or_many_studies(
        server: LiveServer, api: Api) -> None:
    def queries_for(studies: int) -> int:
        world = make_world(server, api)
        me = world.user()
        for _ in range(studies):
            study_id = world.new_study()
            world.add(me, study_id=study_id)
            server.call(_post_messages(study_id, [(world.owner.id, 1, False, 1)]))
        world.add(me, status="PENDING")
        return server.call(count_queries(membership_reads.list_my_studies.__wrapped__, me.id,
                                         "all", PageRequest(1, 50)))

    few, many = queries_for(1), queries_for(6)
    # count, page, owners, member counts, three counters.
    assert few == many and 0 < few <= 7
