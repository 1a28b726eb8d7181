"""The OpenAPI document (coup/openapi.py): valid OpenAPI 3.1, served, and in step with the
route table: every (path, method) a handler implements is documented, and nothing else is."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from coup.app import ROUTES
from coup.openapi import UNDOCUMENTED_ROUTES, build_openapi, implemented_methods, openapi_path
from tests.conftest import LiveServer
from tests.openapi_support import OPENAPI_URL, ensure_openapi_route

# One value per parameter name that its route's regex accepts.
SAMPLE_VALUES = {"code": "ABCD2345", "name": "user-1_1700000000000.png"}
SAMPLE_ID = "Ab_c-9"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi(ROUTES)


def implemented_operations() -> set[tuple[str, str]]:
    return {(openapi_path(pattern)[0], method)
            for pattern, handler in ROUTES for method in implemented_methods(handler)}


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside `node`, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_document_survives_a_json_round_trip(document: dict[str, Any]) -> None:
    assert json.loads(json.dumps(document)) == document


def test_every_implemented_operation_is_documented_and_nothing_else(
        document: dict[str, Any]) -> None:
    implemented = {(path, method) for path, method in implemented_operations()
                   if path not in UNDOCUMENTED_ROUTES}
    documented = documented_operations(document)
    assert sorted(implemented - documented) == [], "implemented but not documented"
    assert sorted(documented - implemented) == [], "documented but not implemented (405)"


def test_left_out_routes_exist_and_say_why() -> None:
    templates = {openapi_path(pattern)[0] for pattern, _ in ROUTES}
    for path, reason in UNDOCUMENTED_ROUTES.items():
        assert path in templates
        assert len(reason) > 20


def test_options_preflight_is_never_documented(document: dict[str, Any]) -> None:
    assert all("options" not in item for item in document["paths"].values())


def test_route_patterns_become_templates_with_named_parameters() -> None:
    assert openapi_path(r"/api/studies/([A-Za-z0-9_-]{1,32})/members/([A-Za-z0-9_-]{1,32})") == (
        "/api/studies/{study_id}/members/{user_id}",
        [("study_id", "[A-Za-z0-9_-]{1,32}"), ("user_id", "[A-Za-z0-9_-]{1,32}")])
    assert openapi_path(r"/api/studies/join/([A-Za-z0-9]{1,16})") == (
        "/api/studies/join/{code}", [("code", "[A-Za-z0-9]{1,16}")])
    assert openapi_path(r"/media/avatars/([a-z]{1,3}_[0-9]{1,2}\.(?:png|gif))") == (
        "/media/avatars/{name}", [("name", r"[a-z]{1,3}_[0-9]{1,2}\.(?:png|gif)")])
    assert openapi_path(r"/api/openapi\.json") == ("/api/openapi.json", [])
    with pytest.raises(ValueError):
        openapi_path(r"/api/unknown-segment/([0-9]+)")
    with pytest.raises(ValueError):
        openapi_path(r"/api/items/[0-9]+")


def test_every_template_filled_with_valid_values_matches_its_route() -> None:
    for pattern, _ in ROUTES:
        template, params = openapi_path(pattern)
        path = template
        for name, regex in params:
            value = SAMPLE_VALUES.get(name, SAMPLE_ID)
            assert re.fullmatch(regex, value), (pattern, name)
            path = path.replace("{" + name + "}", value)
        assert re.fullmatch(pattern, path), (pattern, path)


def test_path_parameters_carry_the_route_regex(document: dict[str, Any]) -> None:
    by_template = {openapi_path(p)[0]: dict(openapi_path(p)[1]) for p, _ in ROUTES}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = {p["name"]: p["schema"]["pattern"] for p in operation.get("parameters", [])
                        if p["in"] == "path"}
            expected = {name: f"^(?:{regex})$" for name, regex in by_template[path].items()}
            assert declared == expected, (method, path)


def test_request_bodies_reject_unknown_fields(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            for media in body["content"].values():
                schema = media["schema"]
                branches = schema.get("oneOf", [schema])
                for branch in branches:
                    assert branch["type"] == "object", (method, path)
                    assert branch["additionalProperties"] is False, (method, path)


def test_every_operation_has_success_and_error_envelopes(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = [int(code) for code in operation["responses"]]
            assert any(200 <= code < 300 for code in statuses), (method, path)
            assert all(code < 500 or code == 503 for code in statuses), (method, path)
            for code, response in operation["responses"].items():
                media = response["content"]
                if int(code) >= 400 and "application/json" in media:
                    schema = media["application/json"]["schema"]
                    assert schema.get("allOf", [{}])[0].get("$ref", "").endswith(
                        "ErrorEnvelope") or path in ("/health", "/ready"), (method, path, code)


def test_operations_needing_a_session_name_both_credentials(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {**schemes["sessionCookie"], "in": "cookie",
                                        "name": "coup_session"}
    assert schemes["xsrfHeader"]["name"] == "X-XSRFToken"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            security = operation["security"]
            assert {"bearerAuth": []} in security
            cookie = [s for s in security if "sessionCookie" in s]
            assert cookie, (method, path)
            if method != "get":
                assert "xsrfHeader" in cookie[0], (method, path)
            assert ({} in security) == (operation["x-coup-access"] == "PUBLIC"), (method, path)


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_served_document_is_the_route_table_document(server: LiveServer,
                                                     document: dict[str, Any]) -> None:
    ensure_openapi_route(server)
    import httpx

    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = http.get(OPENAPI_URL)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    served = response.json()
    assert served == json.loads(json.dumps(document))
    validate(served, cls=OpenAPIV31SpecValidator)
