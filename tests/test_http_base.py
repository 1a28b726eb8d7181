"""The HTTP base: envelopes, strict input, body limits, CORS, XSRF and the operational endpoints."""

from __future__ import annotations

import socket

import httpx

from tests.conftest import APP_ORIGIN, Api, LiveServer, error_code


def test_unknown_path_is_not_found_envelope(client: httpx.Client) -> None:
    response = client.get("/api/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": {
        "code": "NOT_FOUND", "message": response.json()["error"]["message"]}}


def test_wrong_method_is_method_not_allowed(client: httpx.Client) -> None:
    response = client.put("/api/auth/csrf", headers={"Authorization": "Bearer x"})
    assert response.status_code == 405
    assert error_code(response) == "METHOD_NOT_ALLOWED"


def test_invalid_json_is_bad_request(client: httpx.Client) -> None:
    response = client.post("/api/auth/login", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_code(response) == "BAD_REQUEST"


def test_wrong_content_type_is_bad_request(client: httpx.Client) -> None:
    response = client.post("/api/auth/login", content=b'{"email": "a@b.co"}',
                           headers={"Content-Type": "text/plain"})
    assert error_code(response) == "BAD_REQUEST"


def test_nan_is_not_json(client: httpx.Client) -> None:
    response = client.post("/api/auth/login", content=b'{"email": NaN}',
                           headers={"Content-Type": "application/json"})
    assert error_code(response) == "BAD_REQUEST"


def test_unknown_field_is_named_in_validation_error(client: httpx.Client) -> None:
    response = client.post("/api/auth/login", json={
        "email": "a@example.com", "password": "x", "is_admin": True})
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "VALIDATION_ERROR"
    assert "is_admin" in body["fields"]


def test_wrong_type_and_missing_fields_are_all_reported(client: httpx.Client) -> None:
    response = client.post("/api/auth/signup", json={"email": 5, "name": ["x"]})
    fields = response.json()["error"]["fields"]
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(fields) == {"email", "name", "password"}


def test_body_that_is_not_an_object_is_rejected(client: httpx.Client) -> None:
    response = client.post("/api/auth/login", json=[1, 2, 3])
    assert error_code(response) == "VALIDATION_ERROR"


def test_oversize_body_with_length_is_request_too_large(client: httpx.Client) -> None:
    big = b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    response = client.post("/api/auth/login", content=big,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert error_code(response) == "REQUEST_TOO_LARGE"


def test_oversize_chunked_body_is_request_too_large(client: httpx.Client) -> None:
    def chunks():
        yield b'{"email": "'
        for _ in range(20):
            yield b"a" * 65536
        yield b'"}'

    response = client.post("/api/auth/login", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert error_code(response) == "REQUEST_TOO_LARGE"


def test_health_reports_database_and_node(client: httpx.Client, backend: str) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    # The PostgreSQL leg runs with the Redis bus; the SQLite leg has no Redis.
    redis = True if backend == "postgres" else None
    assert response.json() == {"status": "ok", "node": "test-node", "db": True, "redis": redis}


def test_ready_is_200_when_serving(client: httpx.Client) -> None:
    assert client.get("/ready").status_code == 200


def test_config_lists_public_settings(client: httpx.Client) -> None:
    data = client.get("/api/config").json()["data"]
    assert data["allow_signup"] is True
    assert data["time_zone"] == "Asia/Seoul"
    assert data["chat_rate"] == {"messages": 5, "window_seconds": 10.0}
    assert data["oauth_providers"] == []


def test_metrics_served_to_loopback_with_route_labels(client: httpx.Client) -> None:
    client.get("/api/config")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert 'coup_http_requests_total{method="GET",route="/api/config",status="200"}' in \
        response.text
    assert "coup_http_request_duration_seconds_bucket" in response.text


def test_metrics_refused_to_other_addresses(server: LiveServer) -> None:
    # Reach the server from a non-loopback source address where the machine has one; the
    # allow-list holds only 127.0.0.1/32, so 127.0.0.2 is outside it.
    with socket.create_connection(("127.0.0.1", server.node.bound_port),
                                  source_address=("127.0.0.2", 0)) as conn:
        conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 403")
    assert b'"FORBIDDEN"' in reply


def test_cors_allows_configured_origin_with_credentials(client: httpx.Client) -> None:
    response = client.options("/api/auth/login", headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-XSRFToken" in response.headers["Access-Control-Allow-Headers"]


def test_cors_ignores_unknown_origin(client: httpx.Client) -> None:
    response = client.get("/api/config", headers={"Origin": "http://evil.test"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cookie_post_without_xsrf_header_is_csrf_failed(api: Api) -> None:
    browser = api.cookie_client(headers={"Origin": APP_ORIGIN})
    browser.get("/api/auth/csrf")
    response = browser.post("/api/auth/login", json={"email": "a@example.com", "password": "x"})
    assert response.status_code == 403
    assert error_code(response) == "CSRF_FAILED"


def test_native_client_without_cookie_or_origin_is_exempt(client: httpx.Client) -> None:
    response = client.post("/api/auth/login", json={"email": "nobody@example.com",
                                                     "password": "Whatever-1234"})
    assert error_code(response) == "INVALID_CREDENTIALS"


def test_maintenance_mode_blocks_api_but_not_auth(api: Api, server: LiveServer) -> None:
    from coup.store.system_settings import store_setting

    user = api.signup()
    server.call(store_setting("maintenance_mode", True))
    server.services.system_settings.invalidate()
    try:
        assert error_code(user.http.get("/api/users/me")) == "MAINTENANCE"
        assert user.http.get("/api/auth/me").status_code == 200
        assert api.anonymous().get("/api/config").json()["data"]["maintenance_mode"] is True
    finally:
        server.call(store_setting("maintenance_mode", False))
        server.services.system_settings.invalidate()
