"""The authorization table of the studies area (COUP.md §3.1, §7.3-§7.6, §7.14, §7.17).

Every endpoint of the area is called as anonymous, a non-member, a pending applicant, a MEMBER,
an ADMIN and the OWNER, each call against a fresh world so no call can change another's answer.
The expected statuses are written out below, one row per endpoint, straight from COUP.md:

* MEMBER-level endpoints (§3.1): NOT_FOUND (404) when the study is private and the caller has no
  ACTIVE membership (a PENDING applicant has none, §3.1); otherwise NOT_MEMBER (403); a role
  below the level is FORBIDDEN (403). Anonymous callers get UNAUTHORIZED (401) first.
* Private studies are shown to PENDING applicants by `GET /api/studies/{id}` and the join
  visibility check (§7.3, §7.5), and to anyone holding an active invite code.
* Notifications belong to their recipient only (§7.14): the `{owner_note}` is the OWNER's, so
  everybody else gets NOT_FOUND.

Error codes are checked too: 401 UNAUTHORIZED, 404 NOT_FOUND, 403 NOT_MEMBER for callers without
an ACTIVE membership and FORBIDDEN for a role below the level, unless a row names another code.

Placeholders: `{study}` the world's study, `{code}` an active invite code, `{applicant}` another
PENDING applicant, `{other_member}` / `{other_admin}` another ACTIVE MEMBER / ADMIN, `{outsider}`
a user with no row, `{owner_note}` one of the OWNER's notifications.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from coup.app import ROUTES
from coup.openapi import implemented_methods, openapi_path
from tests.authorization_support import ROLES, Clients, StudyWorld, call
from tests.conftest import LiveServer, error_code


class Row(NamedTuple):
    method: str
    path: str
    study: str  # "public" or "private"
    expected: tuple[int, int, int, int, int, int]  # in ROLES order
    body: Any = None
    setup: tuple[str, ...] = ()  # placeholders to create although the call does not name them
    codes: dict[str, str] | None = None  # error codes that the default rule below does not give


S = "/api/studies/{study}"
NEW_STUDY = {"name": "새 스터디", "emoji": "📗", "description": "새로 만드는 스터디입니다.",
             "category": "개발"}
ALREADY = {"member": "ALREADY_MEMBER", "admin": "ALREADY_MEMBER", "owner": "ALREADY_MEMBER"}
JOINED = {"pending": "APPLICATION_EXISTS", **ALREADY}
REPORT = {"target_type": "USER", "target_id": "{outsider}", "type": "SPAM",
          "reason": "광고 메시지를 계속 보냅니다."}
N = "/api/notifications"
AREA = ("/api/studies", "/api/my-studies", "/api/notifications", "/api/reports")
# Study sub-resources of other sections (§7.7-§7.13).
OTHER_AREAS = ("/chat", "/notices", "/files", "/calendar", "/tasks", "/attendance")

TABLE: list[Row] = [
    #                                                          anon non  pend mem  adm  own
    # §7.3 studies
    Row("GET", "/api/studies/categories", "public",          (200, 200, 200, 200, 200, 200)),
    Row("GET", "/api/studies", "public",                     (200, 200, 200, 200, 200, 200)),
    Row("POST", "/api/studies", "public",                    (401, 201, 201, 201, 201, 201),
        NEW_STUDY),
    Row("GET", S, "public",                                  (200, 200, 200, 200, 200, 200)),
    Row("GET", S, "private",                                 (404, 404, 200, 200, 200, 200)),
    Row("PATCH", S, "public",                                (401, 403, 403, 403, 403, 200),
        {"name": "이름을 바꾼 스터디"}),
    Row("PATCH", S, "private",                               (401, 404, 404, 403, 403, 200),
        {"name": "이름을 바꾼 스터디"}),
    Row("DELETE", S, "public",                               (401, 403, 403, 403, 403, 200)),
    Row("DELETE", S, "private",                              (401, 404, 404, 403, 403, 200)),
    # §7.4 invite codes
    Row("POST", S + "/invite", "public",                     (401, 403, 403, 403, 201, 201),
        {}),
    Row("POST", S + "/invite", "private",                    (401, 404, 404, 403, 201, 201),
        {}),
    Row("GET", S + "/invite", "public",                      (401, 403, 403, 403, 200, 200)),
    Row("GET", S + "/invite", "private",                     (401, 404, 404, 403, 200, 200)),
    Row("POST", S + "/invite/regenerate", "public",          (401, 403, 403, 403, 201, 201),
        {}),
    Row("DELETE", S + "/invite", "public",                   (401, 403, 403, 403, 200, 200),
        setup=("code",)),
    Row("GET", "/api/studies/join/{code}", "public",         (200, 200, 200, 200, 200, 200)),
    Row("GET", "/api/studies/join/{code}", "private",        (200, 200, 200, 200, 200, 200)),
    # §7.5 membership
    Row("POST", S + "/join", "public",                       (401, 201, 409, 409, 409, 409),
        {}, codes=JOINED),
    Row("POST", S + "/join", "private",                      (401, 404, 409, 409, 409, 409),
        {}, codes=JOINED),
    Row("POST", S + "/join", "private",                      (401, 201, 201, 409, 409, 409),
        {"invite_code": "{code}"}, codes=ALREADY),
    Row("POST", S + "/leave", "public",                      (401, 403, 200, 200, 200, 409),
        codes={"owner": "OWNER_CANNOT_LEAVE"}),
    Row("POST", S + "/leave", "private",                     (401, 404, 200, 200, 200, 409),
        codes={"owner": "OWNER_CANNOT_LEAVE"}),
    Row("GET", S + "/join-requests", "public",               (401, 403, 403, 403, 200, 200)),
    Row("GET", S + "/join-requests", "private",              (401, 404, 404, 403, 200, 200)),
    Row("POST", S + "/join-requests/{applicant}/approve", "public",
        (401, 403, 403, 403, 200, 200)),
    Row("POST", S + "/join-requests/{applicant}/approve", "private",
        (401, 404, 404, 403, 200, 200)),
    Row("POST", S + "/join-requests/{applicant}/reject", "public",
        (401, 403, 403, 403, 200, 200), {"reason": "정원이 찼습니다"}),
    Row("GET", S + "/members", "public",                     (401, 403, 403, 200, 200, 200)),
    Row("GET", S + "/members", "private",                    (401, 404, 404, 200, 200, 200)),
    Row("GET", S + "/members?status=PENDING", "public",      (401, 403, 403, 403, 200, 200)),
    Row("POST", S + "/members", "public",                    (401, 403, 403, 403, 201, 201),
        {"user_id": "{outsider}"}),
    Row("POST", S + "/members", "public",                    (401, 403, 403, 403, 403, 201),
        {"user_id": "{outsider}", "role": "ADMIN"}, codes={"admin": "ROLE_HIERARCHY"}),
    Row("DELETE", S + "/members/{other_member}", "public",   (401, 403, 403, 403, 200, 200)),
    Row("DELETE", S + "/members/{other_member}", "private",  (401, 404, 404, 403, 200, 200)),
    Row("DELETE", S + "/members/{other_admin}", "public",    (401, 403, 403, 403, 403, 200),
        codes={"admin": "ROLE_HIERARCHY"}),
    Row("PATCH", S + "/members/{other_member}/role", "public",
        (401, 403, 403, 403, 403, 200), {"role": "ADMIN"}),
    Row("POST", S + "/transfer-ownership", "public",         (401, 403, 403, 403, 403, 200),
        {"target_user_id": "{other_admin}"}),
    # §7.6 my studies
    Row("GET", "/api/my-studies", "public",                  (401, 200, 200, 200, 200, 200)),
    # §7.14 notifications
    Row("GET", N, "public",                                  (401, 200, 200, 200, 200, 200)),
    Row("GET", N + "/count", "public",                       (401, 200, 200, 200, 200, 200)),
    Row("GET", N + "/{owner_note}", "public",                (401, 404, 404, 404, 404, 200)),
    Row("POST", N + "/{owner_note}/read", "public",          (401, 404, 404, 404, 404, 200)),
    Row("PATCH", N + "/{owner_note}/read", "public",         (401, 404, 404, 404, 404, 200)),
    Row("DELETE", N + "/{owner_note}", "public",             (401, 404, 404, 404, 404, 200)),
    Row("POST", N + "/mark-all-read", "public",              (401, 200, 200, 200, 200, 200)),
    Row("PATCH", N + "/mark-all-read", "public",             (401, 200, 200, 200, 200, 200)),
    Row("DELETE", N + "/bulk", "public",                     (401, 200, 200, 200, 200, 200),
        {"ids": ["{owner_note}"]}),
    # §7.17 reports
    Row("POST", "/api/reports", "public",                    (401, 201, 201, 201, 201, 201),
        REPORT),
    Row("GET", "/api/reports/mine", "public",                (401, 200, 200, 200, 200, 200)),
]


def row_id(row: Row) -> str:
    extra = ""
    if isinstance(row.body, dict) and row.body:
        extra = " " + ",".join(f"{k}={v}" for k, v in row.body.items() if k != "reason")
    return f"{row.method} {row.path} [{row.study}]{extra}"


CELLS = [pytest.param(row, index, role, id=f"{row_id(row)}-{role}")
         for row in TABLE for index, role in enumerate(ROLES)]


@pytest.fixture()
def clients(server: LiveServer) -> Iterator[Clients]:
    made = Clients(server)
    yield made
    made.close()


def expected_code(row: Row, role: str, status: int) -> str | None:
    """The error code a refusal carries (None: not checked, e.g. an unlisted 409)."""
    if row.codes and role in row.codes:
        return row.codes[role]
    if status == 403:
        return "NOT_MEMBER" if role in ("non_member", "pending") else "FORBIDDEN"
    return {401: "UNAUTHORIZED", 404: "NOT_FOUND"}.get(status)


def world_for(server: LiveServer, clients: Clients, row: Row) -> StudyWorld:
    world = StudyWorld(server, clients, is_public=row.study == "public")
    # Every person and code the row needs exists before the call, whatever the caller's role.
    world.fill([row.path, row.body, *("{" + name + "}" for name in row.setup)])
    return world


@pytest.mark.parametrize(("row", "index", "role"), CELLS)
def test_caller_gets_the_status_the_spec_gives(server: LiveServer, clients: Clients, row: Row,
                                               index: int, role: str) -> None:
    world = world_for(server, clients, row)
    http = world.client(role)
    path = world.fill(row.path)
    response = call(http, row.method, path, world.fill(row.body))
    expected = row.expected[index]
    assert response.status_code == expected, (
        f"{row.method} {row.path} ({row.study} study) as {role}: expected {expected}, "
        f"got {response.status_code} {response.text[:300]}")
    code = expected_code(row, role, expected)
    if code is not None:
        assert error_code(response) == code, (
            f"{row.method} {row.path} ({row.study} study) as {role}: expected {code}, "
            f"got {response.text[:300]}")


def test_table_covers_every_endpoint_of_the_area() -> None:
    """Every (method, path) the route table serves in §7.3-§7.6, §7.14 and §7.17 has a row."""
    def shape(path: str) -> str:
        return re.sub(r"\{[a-z_]+\}", "{}", path.split("?")[0])

    in_area = {
        (method.upper(), shape(template))
        for pattern, handler in ROUTES
        for template in [openapi_path(pattern)[0]]
        if template.startswith(AREA) and not any(part in template for part in OTHER_AREAS)
        for method in implemented_methods(handler)
    }
    covered = {(row.method, shape(row.path)) for row in TABLE}
    assert sorted(in_area - covered) == []
