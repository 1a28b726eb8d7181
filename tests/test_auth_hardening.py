"""Login hardening through the real server (COUP.md §5.3, §5.4; issue 10, defects 3 and 11):
the (email, IP) lockout holds against guesses sent all at once, and a password is hashed whole
(every byte of it, in any Unicode normal form)."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Sequence

import bcrypt
import httpx
import pytest

from coup.errors import ApiError
from coup.passwords import WHOLE_PASSWORD_PREFIX, hash_password, verify_password
from coup.store.db import db_task
from coup.store.models import LoginFailure, Session, User
from tests.conftest import Api, LiveServer, error_code

PASSWORD = "Secret-pass-123"
# The cost of production hashes: each check takes a good fraction of a second, so guesses sent
# together are all in flight at once, as in the report (the test servers otherwise use cost 4).
PRODUCTION_ROUNDS = 12
GUESSES = 25
# 28 Hangul syllables, 84 bytes of UTF-8: past the 72 bytes bcrypt reads.
LONG_PREFIX = "우리스터디그룹의비밀번호는아주길고복잡해서외우기힘들어요"


@db_task
def set_password_hash(user_id: str, password_hash: str) -> None:
    User.update(password_hash=password_hash).where(User.id == user_id).execute()


@db_task
def stored_hash(user_id: str) -> str:
    return User.get_by_id(user_id).password_hash


@db_task
def recorded_failures(email: str) -> int:
    return LoginFailure.select().where(LoginFailure.email == email).count()


def max_login_attempts(server: LiveServer) -> int:
    return int(server.call(server.services.system_settings.get("max_login_attempts")))


def login_burst(base_urls: Sequence[str], email: str,
                passwords: Sequence[str]) -> list[httpx.Response]:
    """POST /api/auth/login once per password, all at once (asyncio.gather), spread over the
    given nodes in turn; the responses in the order of `passwords`."""

    async def one(base_url: str, password: str) -> httpx.Response:
        # A client of its own per request: a login that succeeds sets a cookie, and a shared
        # client would then send it (and need an XSRF token) on the requests after it.
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
            return await http.post("/api/auth/login", json={"email": email, "password": password})

    async def all_at_once() -> list[httpx.Response]:
        return list(await asyncio.gather(*(
            one(base_urls[index % len(base_urls)], password)
            for index, password in enumerate(passwords))))

    return asyncio.run(all_at_once())


def wrong_guesses(count: int) -> list[str]:
    return [f"Wrong-guess-{index}" for index in range(count)]


# --- defect 3: the lockout under parallel guesses -------------------------------------------


def test_parallel_wrong_guesses_are_checked_at_most_max_login_attempts_times(
        api: Api, server: LiveServer) -> None:
    user = api.signup()
    server.call(set_password_hash(user.id, hash_password(PASSWORD, PRODUCTION_ROUNDS)))
    limit = max_login_attempts(server)

    responses = login_burst([server.base_url], user.email, wrong_guesses(GUESSES))

    checked = [r for r in responses if r.status_code == 401]
    refused = [r for r in responses if r.status_code == 429]
    assert (len(checked), len(refused)) == (limit, GUESSES - limit), \
        sorted(r.status_code for r in responses)
    assert {error_code(r) for r in checked} == {"INVALID_CREDENTIALS"}
    assert {error_code(r) for r in refused} == {"RATE_LIMITED"}
    assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
    assert server.call(recorded_failures(user.email)) == limit
    # The pair is locked: even the right password is refused now.
    right = api.anonymous().post("/api/auth/login", json={"email": user.email,
                                                          "password": PASSWORD})
    assert right.status_code == 429 and error_code(right) == "RATE_LIMITED"


def test_a_right_password_inside_a_burst_of_guesses_frees_no_extra_room(
        api: Api, server: LiveServer) -> None:
    """The report's burst: 24 wrong guesses and the right password, all at once. A success
    forgives the attempts reserved before it (COUP.md §5.3 step 7), exactly as if they had come
    one at a time in that order: so either the right password came too late and was refused
    (then exactly `limit` guesses were checked), or at most limit - 1 guesses were checked
    before it and at most `limit` after."""
    user = api.signup()
    server.call(set_password_hash(user.id, hash_password(PASSWORD, PRODUCTION_ROUNDS)))
    limit = max_login_attempts(server)
    passwords = wrong_guesses(GUESSES - 1)
    passwords.insert(GUESSES // 2, PASSWORD)

    responses = login_burst([server.base_url], user.email, passwords)

    right = responses.pop(GUESSES // 2)
    checked = sum(r.status_code == 401 for r in responses)
    assert {r.status_code for r in responses} <= {401, 429}
    assert right.status_code in (200, 429), right.text
    if right.status_code == 429:
        assert checked == limit
    else:
        assert checked <= 2 * limit - 1
    assert server.call(recorded_failures(user.email)) <= limit


# --- defect 11: the whole password, in any normal form --------------------------------------


def log_in(api: Api, email: str, password: str) -> httpx.Response:
    return api.anonymous().post("/api/auth/login", json={"email": email, "password": password})


def test_long_passwords_that_share_their_first_72_bytes_are_different_passwords(
        api: Api) -> None:
    first, second = LONG_PREFIX + "Ab1!", LONG_PREFIX + "Cd2?"
    assert len(first.encode()) > 72 and first.encode()[:72] == second.encode()[:72]
    user = api.signup(password=first)

    wrong = log_in(api, user.email, second)

    assert wrong.status_code == 401 and error_code(wrong) == "INVALID_CREDENTIALS"
    assert log_in(api, user.email, first).status_code == 200


def test_a_password_typed_in_another_unicode_normal_form_matches(api: Api) -> None:
    composed = "한글비밀번호Secret1"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    from_nfc = api.signup(password=composed)
    from_nfd = api.signup(password=decomposed)

    assert log_in(api, from_nfc.email, decomposed).status_code == 200
    assert log_in(api, from_nfd.email, composed).status_code == 200


def test_an_old_format_hash_still_logs_in_and_is_rewritten_whole(
        api: Api, server: LiveServer) -> None:
    password = LONG_PREFIX + "Ab1!"
    user = api.signup(password=password)
    # As hashes were made before: bcrypt of the first 72 bytes, as typed.
    legacy = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode()
    server.call(set_password_hash(user.id, legacy))

    assert log_in(api, user.email, password).status_code == 200

    upgraded = server.call(stored_hash(user.id))
    assert upgraded.startswith(WHOLE_PASSWORD_PREFIX)
    assert verify_password(password, upgraded)
    # From now on every byte counts: the same first 72 bytes are no longer enough.
    assert log_in(api, user.email, LONG_PREFIX + "Cd2?").status_code == 401
    assert log_in(api, user.email, password).status_code == 200
    assert server.call(stored_hash(user.id)) == upgraded


def test_an_account_deleted_after_its_password_check_gets_no_session(api: Api,
                                                                     server: LiveServer) -> None:
    """Login checks the password, then creates the session in a later transaction: an account
    deleted in between is refused there, not given a session."""
    from datetime import timedelta

    from coup.store import accounts

    user = api.signup()
    attempt = server.call(accounts.reserve_login_attempt(
        user.email, "127.0.0.1", window=timedelta(minutes=15), max_attempts=5))
    server.call(set_status(user.id, "DELETED"))
    with pytest.raises(ApiError) as refused:
        server.call(accounts.complete_login(user.id, attempt, new_password_hash=None,
                                            user_agent="test", ttl_days=1))
    assert refused.value.code == "INVALID_CREDENTIALS"
    assert server.call(session_count(user.id)) == 1  # only the sign-up's own session


@db_task
def set_status(user_id: str, status: str) -> None:
    User.update(status=status).where(User.id == user_id).execute()


@db_task
def session_count(user_id: str) -> int:
    return int(Session.select().where(Session.user == user_id).count())
