"""Accounts and sessions (COUP.md §5, §7.1) through the real server."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import pytest

from coup.store.db import db_task
from coup.store.fields import utcnow
from coup.store.models import Session, User
from coup.store.sessions import hash_token
from tests.conftest import (
    APP_ORIGIN,
    Api,
    LiveServer,
    error_code,
    override_limit,
    override_node_settings,
)

PASSWORD = "Secret-pass-123"


def fresh_email() -> str:
    return f"auth-{secrets.token_hex(6)}@example.com"


@db_task
def set_user_fields(user_id: str, **fields: object) -> None:
    User.update(**fields).where(User.id == user_id).execute()


@db_task
def session_row(token: str) -> Session:
    return Session.get(Session.token_hash == hash_token(token))


@db_task
def age_session(token: str, minutes: int) -> None:
    past = utcnow() - timedelta(minutes=minutes)
    Session.update(last_seen_at=past).where(Session.token_hash == hash_token(token)).execute()


# --- sign-up ------------------------------------------------------------------------------------


def test_signup_creates_user_session_and_cookie(client: httpx.Client) -> None:
    email = fresh_email()
    response = client.post("/api/auth/signup", json={
        "email": f"  {email.upper()} ", "password": PASSWORD, "name": "김 코업"})
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["user"]["email"] == email
    assert data["user"]["has_password"] is True
    assert data["user"]["provider"] == "CREDENTIALS"
    assert len(data["token"]) == 43
    assert data["expires_at"].endswith("Z")
    cookie = response.headers["set-cookie"]
    assert "coup_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_signup_stores_only_the_token_hash(api: Api, server: LiveServer) -> None:
    user = api.signup()
    row = server.call(session_row(user.token))
    assert row.token_hash == hash_token(user.token)
    assert user.token not in (row.token_hash, row.id)


def test_signup_with_taken_email_is_email_taken(api: Api, client: httpx.Client) -> None:
    user = api.signup()
    response = client.post("/api/auth/signup", json={
        "email": user.email, "password": PASSWORD, "name": "다른사람"})
    assert response.status_code == 409
    assert error_code(response) == "EMAIL_TAKEN"


@pytest.mark.parametrize("password", [
    "short1A", "alllowercaseletters", "password1", "Aaaa1111", "12345678",
])
def test_weak_passwords_are_refused(client: httpx.Client, password: str) -> None:
    response = client.post("/api/auth/signup", json={
        "email": fresh_email(), "password": password, "name": "약한비번"})
    assert response.status_code == 400
    assert error_code(response) == "WEAK_PASSWORD"
    assert "password" in response.json()["error"]["fields"]


def test_password_equal_to_email_is_weak(client: httpx.Client) -> None:
    email = "Same-As-Mail1@example.com"
    response = client.post("/api/auth/signup", json={
        "email": email, "password": email, "name": "같은값"})
    assert error_code(response) == "WEAK_PASSWORD"


def test_password_confirmation_must_match(client: httpx.Client) -> None:
    response = client.post("/api/auth/signup", json={
        "email": fresh_email(), "password": PASSWORD, "password_confirm": PASSWORD + "x",
        "name": "확인불일치"})
    assert error_code(response) == "PASSWORD_MISMATCH"


@pytest.mark.parametrize("name", ["a", "bad<name>", "two  spaces", "x" * 51])
def test_bad_names_are_validation_errors(client: httpx.Client, name: str) -> None:
    response = client.post("/api/auth/signup", json={
        "email": fresh_email(), "password": PASSWORD, "name": name})
    assert error_code(response) == "VALIDATION_ERROR"
    assert "name" in response.json()["error"]["fields"]


def test_signup_disabled_setting_is_enforced(client: httpx.Client, server: LiveServer) -> None:
    from coup.store.system_settings import store_setting

    server.call(store_setting("allow_signup", False))
    server.services.system_settings.invalidate()
    try:
        response = client.post("/api/auth/signup", json={
            "email": fresh_email(), "password": PASSWORD, "name": "가입불가"})
        assert response.status_code == 403
        assert error_code(response) == "SIGNUP_DISABLED"
    finally:
        server.call(store_setting("allow_signup", True))
        server.services.system_settings.invalidate()


def test_signup_rate_limit_per_ip(api: Api, server: LiveServer) -> None:
    with override_limit(server, "signup", 2, 3600):
        codes = [api.anonymous().post("/api/auth/signup", json={
            "email": fresh_email(), "password": PASSWORD, "name": "가입제한"}).status_code
            for _ in range(3)]
    assert codes == [201, 201, 429]


# --- login --------------------------------------------------------------------------------------


def test_login_returns_token_and_admin_flags(api: Api, client: httpx.Client) -> None:
    user = api.signup()
    response = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["user"]["id"] == user.id
    assert data["is_admin"] is False and data["admin_role"] is None
    assert data["restrictions"] is None
    assert data["token"] != user.token


def test_wrong_password_and_unknown_email_look_the_same(api: Api, client: httpx.Client) -> None:
    user = api.signup()
    wrong = client.post("/api/auth/login", json={"email": user.email, "password": "Nope-1234"})
    unknown = client.post("/api/auth/login", json={"email": fresh_email(), "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "INVALID_CREDENTIALS"


def test_sixth_failed_login_is_rate_limited_even_with_right_password(
        api: Api, client: httpx.Client) -> None:
    user = api.signup()
    for _ in range(5):
        response = client.post("/api/auth/login", json={"email": user.email, "password": "bad"})
        assert error_code(response) == "INVALID_CREDENTIALS"
    locked = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert error_code(locked) == "RATE_LIMITED"
    assert int(locked.headers["Retry-After"]) > 0
    assert locked.json()["error"]["details"]["retry_after_ms"] > 0


def test_successful_login_clears_earlier_failures(api: Api, client: httpx.Client) -> None:
    user = api.signup()
    for _ in range(4):
        client.post("/api/auth/login", json={"email": user.email, "password": "bad"})
    assert client.post("/api/auth/login", json={
        "email": user.email, "password": PASSWORD}).status_code == 200
    for _ in range(4):
        client.post("/api/auth/login", json={"email": user.email, "password": "bad"})
    assert client.post("/api/auth/login", json={
        "email": user.email, "password": PASSWORD}).status_code == 200


def test_suspended_user_cannot_log_in(api: Api, client: httpx.Client, server: LiveServer) -> None:
    user = api.signup()
    until = utcnow() + timedelta(days=3)
    server.call(set_user_fields(user.id, status="SUSPENDED", suspended_until=until,
                                suspend_reason="spam"))
    response = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "ACCOUNT_SUSPENDED"
    assert error["details"]["reason"] == "spam"
    assert error["details"]["suspended_until"].endswith("Z")


def test_expired_suspension_is_lifted_at_login(api: Api, client: httpx.Client,
                                               server: LiveServer) -> None:
    user = api.signup()
    server.call(set_user_fields(user.id, status="SUSPENDED",
                                suspended_until=utcnow() - timedelta(minutes=1)))
    response = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["data"]["user"]["status"] == "ACTIVE"


def test_suspension_revokes_sessions_and_answers_403(api: Api, server: LiveServer) -> None:
    user = api.signup()
    server.call(set_user_fields(user.id, status="SUSPENDED", suspended_until=None))
    first = user.http.get("/api/auth/me")
    assert first.status_code == 403 and error_code(first) == "ACCOUNT_SUSPENDED"
    # The session is now revoked for the suspension and keeps answering 403, not 401.
    assert server.call(session_row(user.token)).revoke_reason == "SUSPENDED"
    assert error_code(user.http.get("/api/auth/me")) == "ACCOUNT_SUSPENDED"


def test_low_cost_hash_is_rehashed_at_login(api: Api, client: httpx.Client,
                                            server: LiveServer) -> None:
    from coup.passwords import hash_cost, hash_password

    user = api.signup()
    server.call(set_user_fields(user.id, password_hash=hash_password(PASSWORD, 4)))
    with override_node_settings(server, bcrypt_rounds=5):
        assert client.post("/api/auth/login", json={
            "email": user.email, "password": PASSWORD}).status_code == 200

    @db_task
    def stored_hash() -> str:
        return User.get_by_id(user.id).password_hash

    assert hash_cost(server.call(stored_hash())) == 5


# --- the whole flow, with a cookie and with a bearer token ---------------------------------------


def test_cookie_flow_signup_login_me_logout(api: Api) -> None:
    browser = api.browser()
    email = fresh_email()
    assert browser.post("/api/auth/signup", json={
        "email": email, "password": PASSWORD, "name": "브라우저"}).status_code == 201
    browser.cookies.delete("coup_session")
    login = browser.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    me = browser.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["data"]["user"]["email"] == email
    assert browser.post("/api/auth/logout").status_code == 200
    assert browser.get("/api/auth/me").status_code == 401


def test_cookie_request_without_xsrf_is_refused_even_when_logged_in(api: Api) -> None:
    browser = api.browser()
    browser.post("/api/auth/signup", json={
        "email": fresh_email(), "password": PASSWORD, "name": "엑스에스"})
    del browser.headers["X-XSRFToken"]
    response = browser.post("/api/auth/logout")
    assert error_code(response) == "CSRF_FAILED"
    browser.headers["Origin"] = APP_ORIGIN
    assert browser.get("/api/auth/me").status_code == 200


def test_bearer_flow_signup_login_me_logout(client: httpx.Client) -> None:
    email = fresh_email()
    client.post("/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "모바일"})
    token = client.post("/api/auth/login", json={
        "email": email, "password": PASSWORD}).json()["data"]["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/auth/me", headers=bearer).json()["data"]
    assert me["user"]["email"] == email
    assert me["session"]["expires_at"].endswith("Z")
    assert client.post("/api/auth/logout", headers=bearer).status_code == 200
    revoked = client.get("/api/auth/me", headers=bearer)
    assert revoked.status_code == 401 and error_code(revoked) == "UNAUTHORIZED"


def test_bearer_wins_over_cookie(api: Api) -> None:
    first, second = api.signup(), api.signup()
    http = api.anonymous(headers={"Authorization": f"Bearer {second.token}"},
                         cookies={"coup_session": first.token})
    assert http.get("/api/auth/me").json()["data"]["user"]["id"] == second.id


def test_me_requires_a_session(client: httpx.Client) -> None:
    assert error_code(client.get("/api/auth/me")) == "UNAUTHORIZED"
    bad = client.get("/api/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


def test_logout_without_session_is_still_ok(client: httpx.Client) -> None:
    response = client.post("/api/auth/logout")
    assert response.status_code == 200 and response.json() == {"success": True, "data": None}


# --- validate-session and the session list -----------------------------------------------------


def test_validate_session_reasons(api: Api, client: httpx.Client) -> None:
    assert client.get("/api/auth/validate-session").json()["data"] == {
        "valid": False, "user": None, "reason": "NO_SESSION", "should_logout": False}
    user = api.signup()
    valid = user.http.get("/api/auth/validate-session").json()["data"]
    assert valid["valid"] is True and valid["user"]["status"] == "ACTIVE"
    user.http.post("/api/auth/logout")
    revoked = user.http.get("/api/auth/validate-session").json()["data"]
    assert revoked["reason"] == "REVOKED" and revoked["should_logout"] is True


def test_expired_session_is_reported_expired(api: Api, server: LiveServer) -> None:
    user = api.signup()

    @db_task
    def expire() -> None:
        Session.update(expires_at=utcnow() - timedelta(seconds=1)).where(
            Session.token_hash == hash_token(user.token)).execute()

    server.call(expire())
    assert user.http.get("/api/auth/validate-session").json()["data"]["reason"] == "EXPIRED"
    assert user.http.get("/api/auth/me").status_code == 401


def test_sessions_list_marks_current_and_revoking_one_logs_it_out(
        api: Api, client: httpx.Client) -> None:
    user = api.signup()
    other = client.post("/api/auth/login", json={
        "email": user.email, "password": PASSWORD}).json()["data"]["token"]
    listed = user.http.get("/api/auth/sessions").json()["data"]
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    other_id = next(s["id"] for s in listed if not s["current"])
    assert user.http.delete(f"/api/auth/sessions/{other_id}").status_code == 200
    assert client.get("/api/auth/me", headers={
        "Authorization": f"Bearer {other}"}).status_code == 401
    assert user.http.get("/api/auth/me").status_code == 200


def test_revoking_someone_elses_session_is_not_found(api: Api) -> None:
    alice, bob = api.signup(), api.signup()
    bob_session = bob.http.get("/api/auth/sessions").json()["data"][0]["id"]
    response = alice.http.delete(f"/api/auth/sessions/{bob_session}")
    assert response.status_code == 404
    assert bob.http.get("/api/auth/me").status_code == 200


def test_sliding_expiry_moves_forward_after_ten_minutes(api: Api, server: LiveServer) -> None:
    user = api.signup()
    before = server.call(session_row(user.token)).expires_at
    server.call(age_session(user.token, 11))
    assert user.http.get("/api/auth/me").status_code == 200
    after = server.call(session_row(user.token))
    assert after.expires_at > before
    assert utcnow() - after.last_seen_at < timedelta(minutes=1)


def test_fifty_first_session_revokes_the_least_recently_used(
        api: Api, client: httpx.Client) -> None:
    user = api.signup()
    tokens = [user.token]
    for _ in range(50):
        tokens.append(client.post("/api/auth/login", json={
            "email": user.email, "password": PASSWORD}).json()["data"]["token"])
    oldest = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens[0]}"})
    assert oldest.status_code == 401
    newest = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens[-1]}"})
    assert newest.status_code == 200
