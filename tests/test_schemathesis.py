"""A schemathesis run against the live server, driven by the served OpenAPI document.

Every documented operation gets a few generated requests (valid and invalid), sent with the
bearer token of a freshly signed-up user who owns a study, and no response may be a 5xx.
Each operation gets its own fresh world (owner, study, a member, a pending applicant, an invite
code, a notification, and a message, notice, event, task, file and group where those endpoints
exist), so a destructive operation (deleting the study, logging out) cannot starve the others of
data. Most generated path ids are swapped for that world's real ids so study paths reach real
rows; the rest stay random and exercise NOT_FOUND. Generation is derandomized, so a run is
repeatable.

Each operation's strategy comes from schemathesis and runs under plain Hypothesis, one pytest
item per operation and mode: schemathesis 4.32's lazy pytest loader (`from_fixture`) breaks on
pytest 9 (it writes `Function._nodeid`, which pytest 9 no longer has).

Only the SQLite leg runs: the run takes a while, and the PostgreSQL leg would exercise the same
handlers again for little extra; the other test files cover both databases.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from coup.app import ROUTES
from coup.openapi import build_openapi
from tests.authorization_support import Clients, StudyWorld
from tests.conftest import LiveServer
from tests.openapi_support import OPENAPI_URL, ensure_openapi_route

# Generated requests per operation and generation mode, and the per-request timeout.
MAX_EXAMPLES = 10
REQUEST_TIMEOUT_SECONDS = 30
# One in this many generated path ids is kept as generated (so NOT_FOUND paths run too).
KEEP_GENERATED_ID_ONE_IN = 4
# The operations, named from the route table; each test item loads its operation from the
# document the server serves (tests/test_openapi.py checks the two are the same).
DOCUMENT = build_openapi(ROUTES)
OPERATIONS = [(path, method.upper()) for path, item in DOCUMENT["paths"].items()
              for method in item]
# Invalid requests need something to make invalid: a parameter or a body.
CASES = [pytest.param(path, method, mode, id=f"{method} {path}-{label}")
         for path, method in OPERATIONS
         for mode, label in ((GenerationMode.POSITIVE, "valid"),
                             (GenerationMode.NEGATIVE, "invalid"))
         if mode is GenerationMode.POSITIVE
         or {"parameters", "requestBody"} & DOCUMENT["paths"][path][method.lower()].keys()]


@dataclass
class FuzzWorld:
    """The real ids one operation's requests are pointed at."""

    token: str
    ids: dict[str, str]

    def id_for(self, name: str, path: str) -> str | None:
        if name == "user_id":
            return self.ids["applicant" if "/join-requests/" in path else "member"]
        if name == "task_id" and path.startswith("/api/tasks/"):
            return self.ids.get("personal_task_id")
        return self.ids.get(name)


def created_id(response: httpx.Response) -> str | None:
    """The new row's id, when the endpoint exists and accepted the request."""
    if response.status_code not in (200, 201):
        return None
    return response.json()["data"]["id"]


def make_world(server: LiveServer, clients: Clients) -> FuzzWorld:
    """A study owned by the caller, with a member, an applicant, an invite code, a notification
    and one row of each kind the other areas' endpoints work on (where those exist)."""
    world = StudyWorld(server, clients)
    http = world.owner.http
    study = f"/api/studies/{world.study_id}"
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    sessions = http.get("/api/auth/sessions").json()["data"]
    made = {
        "message_id": created_id(http.post(f"{study}/chat", json={"content": "첫 메시지"})),
        "notice_id": created_id(http.post(f"{study}/notices", json={
            "title": "첫 공지", "content": "공지 내용입니다."})),
        "event_id": created_id(http.post(f"{study}/calendar", json={
            "title": "정기 모임", "date": tomorrow, "start_time": "10:00",
            "end_time": "11:00"})),
        "task_id": created_id(http.post(f"{study}/tasks", json={"title": "스터디 할 일"})),
        "personal_task_id": created_id(http.post("/api/tasks", json={"title": "개인 할 일"})),
        "file_id": created_id(http.post(f"{study}/files", files={
            "file": ("notes.txt", "스터디 노트".encode(), "text/plain")})),
        "group_id": created_id(http.post("/api/groups", json={
            "name": f"퍼징 그룹 {secrets.token_hex(3)}"})),
    }
    ids = {name: value for name, value in made.items() if value is not None}
    ids.update({
        "study_id": world.study_id,
        "code": world.value("code"),
        "notification_id": world.value("owner_note"),
        "session_id": next(s["id"] for s in sessions if s["current"]),
        "member": world.value("member"),
        "applicant": world.value("applicant"),
    })
    return FuzzWorld(world.owner.token, ids)


@pytest.fixture(scope="module")
def sqlite_server(backend: str, request: pytest.FixtureRequest) -> LiveServer:
    if backend != "sqlite":
        pytest.skip("the schemathesis run covers the SQLite leg only (see the module docstring)")
    live: LiveServer = request.getfixturevalue("server")
    ensure_openapi_route(live)
    return live


@pytest.fixture(scope="module")
def served_schema(sqlite_server: LiveServer) -> Any:
    config = SchemathesisConfig.from_dict({"base-url": sqlite_server.base_url})
    return schemathesis.openapi.from_url(sqlite_server.base_url + OPENAPI_URL, config=config)


@pytest.fixture()
def clients(sqlite_server: LiveServer) -> Iterator[Clients]:
    made = Clients(sqlite_server)
    yield made
    made.close()


def point_at_real_rows(case: Any, world: FuzzWorld) -> None:
    """Swap most generated path ids for the world's ids (deterministically per value)."""
    params = case.path_parameters or {}
    for name, value in list(params.items()):
        if zlib.crc32(repr(value).encode()) % KEEP_GENERATED_ID_ONE_IN == 0:
            continue
        real = world.id_for(name, case.path)
        if real is not None:
            params[name] = real


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_no_operation_answers_a_server_error(
        sqlite_server: LiveServer, served_schema: Any, clients: Clients, path: str,
        method: str, mode: GenerationMode) -> None:
    operation = served_schema[path][method]
    world = make_world(sqlite_server, clients)

    # No shrinking: the first failing request is reported as generated, within the bound.
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        point_at_real_rows(case, world)
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {world.token}"}
        response = case.call(timeout=REQUEST_TIMEOUT_SECONDS)
        assert response.status_code < 500, (
            f"{case.operation.label} answered {response.status_code}: "
            f"{response.text[:500]}\n{case.as_curl_command()}")

    run()
