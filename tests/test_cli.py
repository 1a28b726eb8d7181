"""The `coup` command line (COUP.md §13), run as a real program against a scratch database.

Each test gets its own SQLite file under tmp_path and runs `python -m coup ...` in a subprocess
with the working directory set to tmp_path, so nothing lands in the repository. Rows are read
back with the standard sqlite3 module; the one test that needs rows the CLI cannot create binds
the models to the file for a moment (see `bound_to`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import peewee
import pytest

from coup.passwords import WHOLE_PASSWORD_PREFIX, verify_password
from coup.store.db import database
from coup.store.fields import utcnow
from coup.store.models import Session, User
from coup.store.sessions import hash_token, new_token
from tests.conftest import Api, LiveServer, create_pg_database, drop_pg_database
from tests.wsclient import WsClient

PASSWORD = "Bootstrap-pass-123"
ADMIN_EMAIL = "root@example.com"


@dataclass
class Cli:
    """Runs the real CLI against one database URL."""

    database_url: str
    cwd: Path
    # More COUP_* variables, e.g. the Redis bus of the node the CLI works beside.
    extra_env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COUP_")}
        env.update(COUP_DATABASE_URL=self.database_url, COUP_TESTING="1", COUP_BCRYPT_ROUNDS="4")
        env.update(self.extra_env)
        result = subprocess.run([sys.executable, "-m", "coup", *args], env=env, cwd=self.cwd,
                                input=stdin if stdin is not None else "", capture_output=True,
                                text=True, timeout=120)
        if check:
            assert result.returncode == 0, (result.stdout, result.stderr)
        return result


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "coup.db"


@pytest.fixture()
def cli(db_path: Path, tmp_path: Path) -> Cli:
    return Cli(f"sqlite:///{db_path}", tmp_path)


@pytest.fixture()
def migrated(cli: Cli) -> Cli:
    cli.run("db", "migrate")
    return cli


@pytest.fixture()
def query(db_path: Path) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """Run a read query on the scratch database; rows come back as dicts."""
    conn: sqlite3.Connection | None = None

    def run(sql: str, *params: Any) -> list[dict[str, Any]]:
        nonlocal conn
        if conn is None:
            conn = sqlite3.connect(db_path)
            conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params).fetchall()]

    yield run
    if conn is not None:
        conn.close()


@contextmanager
def bound_to(db: peewee.Database) -> Iterator[peewee.Database]:
    """Point the models at `db` for the duration, then restore what they pointed at.

    A live test server elsewhere in the session uses the same proxy; it must get its own
    database back whatever happens here.
    """
    previous = database.obj
    database.initialize(db)
    try:
        yield db
    finally:
        database.initialize(previous)


def user_row(query: Callable[..., list[dict[str, Any]]], email: str) -> dict[str, Any]:
    rows = query("SELECT * FROM users WHERE email = ?", email)
    assert len(rows) == 1, rows
    return rows[0]


# --- help ----------------------------------------------------------------------------------


def test_no_arguments_prints_help_and_exits_2(cli: Cli) -> None:
    result = cli.run(check=False)

    assert result.returncode == 2
    assert "usage: coup" in result.stdout
    for command in ("serve", "db", "admin", "user"):
        assert command in result.stdout


# --- db ------------------------------------------------------------------------------------


def test_db_migrate_applies_the_schema_then_reports_up_to_date(
        cli: Cli, query: Callable[..., list[dict[str, Any]]]) -> None:
    first = cli.run("db", "migrate")
    second = cli.run("db", "migrate")

    assert "applied: 0001_init" in first.stdout
    assert "up to date" in second.stdout
    assert [r["name"] for r in query("SELECT name FROM schema_migrations")] == ["0001_init"]


def test_db_seed_inserts_the_settings_once(
        migrated: Cli, query: Callable[..., list[dict[str, Any]]]) -> None:
    first = migrated.run("db", "seed")
    second = migrated.run("db", "seed")

    assert "inserted 17 settings" in first.stdout
    assert "inserted 0 settings" in second.stdout
    assert len(query("SELECT key FROM system_settings")) == 17


def test_db_seed_migrates_a_fresh_database_first(
        cli: Cli, query: Callable[..., list[dict[str, Any]]]) -> None:
    assert "inserted 17 settings" in cli.run("db", "seed").stdout


# --- admin bootstrap -----------------------------------------------------------------------


def test_admin_bootstrap_creates_a_super_admin_with_the_password_from_stdin(
        migrated: Cli, query: Callable[..., list[dict[str, Any]]]) -> None:
    result = migrated.run("admin", "bootstrap", "--email", ADMIN_EMAIL, "--name", "운영자",
                          stdin=PASSWORD + "\n")

    assert "is SUPER_ADMIN" in result.stdout
    user = user_row(query, ADMIN_EMAIL)
    assert user["name"] == "운영자"
    assert user["status"] == "ACTIVE"
    assert user["provider"] == "CREDENTIALS"
    assert user["password_hash"].startswith(WHOLE_PASSWORD_PREFIX)
    assert verify_password(PASSWORD, user["password_hash"])
    roles = query("SELECT * FROM admin_roles WHERE user_id = ?", user["id"])
    assert len(roles) == 1
    assert roles[0]["role"] == "SUPER_ADMIN"
    assert roles[0]["granted_by"] is None
    assert roles[0]["expires_at"] is None
    logs = query("SELECT * FROM admin_logs")
    assert len(logs) == 1
    assert logs[0]["admin_id"] == user["id"]
    assert logs[0]["action"] == "ADMIN_ROLE_GRANT"
    assert json.loads(logs[0]["metadata"]) == {"via": "cli"}


def test_admin_bootstrap_again_changes_nothing(
        migrated: Cli, query: Callable[..., list[dict[str, Any]]]) -> None:
    migrated.run("admin", "bootstrap", "--email", ADMIN_EMAIL, stdin=PASSWORD + "\n")
    before = user_row(query, ADMIN_EMAIL)

    again = migrated.run("admin", "bootstrap", "--email", ADMIN_EMAIL,
                         stdin="Another-pass-456\n")

    assert "(unchanged)" in again.stdout
    after = user_row(query, ADMIN_EMAIL)
    assert after["password_hash"] == before["password_hash"]
    assert len(query("SELECT * FROM users")) == 1
    assert len(query("SELECT * FROM admin_roles")) == 1
    assert len(query("SELECT * FROM admin_logs")) == 1


def test_admin_bootstrap_without_password_leaves_no_hash(
        migrated: Cli, query: Callable[..., list[dict[str, Any]]]) -> None:
    migrated.run("admin", "bootstrap", "--email", ADMIN_EMAIL, "--no-password")

    user = user_row(query, ADMIN_EMAIL)
    assert user["password_hash"] is None
    roles = query("SELECT role FROM admin_roles WHERE user_id = ?", user["id"])
    assert [r["role"] for r in roles] == ["SUPER_ADMIN"]


def test_admin_bootstrap_refuses_a_weak_password(
        migrated: Cli, query: Callable[..., list[dict[str, Any]]]) -> None:
    result = migrated.run("admin", "bootstrap", "--email", ADMIN_EMAIL, stdin="short\n",
                          check=False)

    assert result.returncode == 2
    assert "password" in result.stderr
    assert query("SELECT * FROM users") == []


@pytest.mark.parametrize("email", ["not-an-email", ""])
def test_admin_bootstrap_refuses_an_invalid_email(
        migrated: Cli, query: Callable[..., list[dict[str, Any]]], email: str) -> None:
    result = migrated.run("admin", "bootstrap", "--email", email, "--no-password", check=False)

    assert result.returncode == 2
    assert "--email" in result.stderr
    assert query("SELECT * FROM users") == []


# --- admin grant / list / revoke -----------------------------------------------------------


def test_admin_grant_list_and_revoke(
        migrated: Cli, query: Callable[..., list[dict[str, Any]]]) -> None:
    moderator = "mod@example.com"
    migrated.run("admin", "bootstrap", "--email", ADMIN_EMAIL, "--no-password")
    migrated.run("admin", "bootstrap", "--email", moderator, "--no-password")

    granted = migrated.run("admin", "grant", "--email", moderator, "--role", "MODERATOR",
                           "--expires", "2030-01-01T00:00:00Z")

    assert "MODERATOR" in granted.stdout
    mod_id = user_row(query, moderator)["id"]
    roles = query("SELECT * FROM admin_roles WHERE user_id = ?", mod_id)
    assert len(roles) == 1
    assert roles[0]["role"] == "MODERATOR"
    assert roles[0]["expires_at"].startswith("2030-01-01 00:00:00")
    grant_logs = query("SELECT * FROM admin_logs WHERE target_id = ? AND action = ?",
                       mod_id, "ADMIN_ROLE_GRANT")
    assert json.loads(grant_logs[-1]["after"]) == {"role": "MODERATOR"}

    listed = migrated.run("admin", "list").stdout.splitlines()
    assert len(listed) == 2
    by_email = {line.split("\t")[0]: line.split("\t") for line in listed}
    assert by_email[ADMIN_EMAIL][1] == "SUPER_ADMIN"
    assert by_email[ADMIN_EMAIL][3] == "expires never"
    assert by_email[moderator][1] == "MODERATOR"
    assert by_email[moderator][3] == "expires 2030-01-01T00:00:00.000Z"

    revoked = migrated.run("admin", "revoke", "--email", moderator)

    assert "revoked" in revoked.stdout
    assert query("SELECT * FROM admin_roles WHERE user_id = ?", mod_id) == []
    assert len(query("SELECT * FROM admin_logs WHERE action = ?", "ADMIN_ROLE_REVOKE")) == 1
    assert [line.split("\t")[0] for line in migrated.run("admin", "list").stdout.splitlines()] \
        == [ADMIN_EMAIL]
    again = migrated.run("admin", "revoke", "--email", moderator)
    assert "had no admin role" in again.stdout


def test_admin_grant_refuses_an_expiry_without_a_zone(migrated: Cli) -> None:
    migrated.run("admin", "bootstrap", "--email", ADMIN_EMAIL, "--no-password")

    result = migrated.run("admin", "grant", "--email", ADMIN_EMAIL, "--role", "VIEWER",
                          "--expires", "2030-01-01T00:00:00", check=False)

    assert result.returncode == 2
    assert "--expires" in result.stderr


def test_admin_grant_to_an_unknown_email_fails(migrated: Cli) -> None:
    result = migrated.run("admin", "grant", "--email", "nobody@example.com", "--role",
                          "VIEWER", check=False)

    assert result.returncode == 1
    assert "NOT_FOUND" in result.stderr


# --- user revoke-sessions ------------------------------------------------------------------


def create_user_with_sessions(db_path: Path, email: str, count: int) -> str:
    """Insert a user and `count` live sessions straight into the scratch database."""
    db = peewee.SqliteDatabase(str(db_path), pragmas={"foreign_keys": 1})
    with bound_to(db), db.connection_context(), db.atomic():
        user = User.create(email=email, name="세션유저", restricted_actions=[])
        now = utcnow()
        for _ in range(count):
            Session.create(user=user.id, token_hash=hash_token(new_token()),
                           expires_at=now + timedelta(days=14))
        return user.id


def test_user_revoke_sessions_revokes_every_live_session(
        migrated: Cli, db_path: Path, query: Callable[..., list[dict[str, Any]]]) -> None:
    email = "sessions@example.com"
    user_id = create_user_with_sessions(db_path, email, 2)
    other_id = create_user_with_sessions(db_path, "bystander@example.com", 1)

    result = migrated.run("user", "revoke-sessions", "--email", email)

    assert "revoked 2 sessions" in result.stdout
    sessions = query("SELECT * FROM sessions WHERE user_id = ?", user_id)
    assert len(sessions) == 2
    assert all(s["revoked_at"] is not None for s in sessions)
    assert {s["revoke_reason"] for s in sessions} == {"ADMIN"}
    bystander = query("SELECT * FROM sessions WHERE user_id = ?", other_id)
    assert [s["revoked_at"] for s in bystander] == [None]


def test_user_revoke_sessions_for_an_unknown_email_fails(migrated: Cli) -> None:
    result = migrated.run("user", "revoke-sessions", "--email", "ghost@example.com",
                          check=False)

    assert result.returncode == 1
    assert "NOT_FOUND" in result.stderr


def cli_beside(server: LiveServer, cwd: Path) -> Cli:
    """The CLI as an operator runs it next to a running node: the same database and, when the
    node has one, the same Redis bus."""
    settings = server.settings
    extra = {}
    if settings.redis_url:
        extra = {"COUP_REDIS_URL": settings.redis_url, "COUP_REDIS_PREFIX": settings.redis_prefix,
                 "COUP_COOKIE_SECRET": settings.cookie_secret}
    return Cli(settings.database_url, cwd, extra)


def test_user_revoke_sessions_closes_the_users_open_sockets_within_a_second(
        api: Api, server: LiveServer, tmp_path: Path) -> None:
    """COUP.md §5.1: the CLI is a revocation trigger like the others; on SQLite (one node, no
    Redis) and on PostgreSQL with the Redis bus."""
    user = api.signup()
    second_device = api.anonymous().post("/api/auth/login", json={
        "email": user.email, "password": user.password})
    assert second_device.status_code == 200, second_device.text
    bystander = api.signup()
    with WsClient.open(server, user.token) as first, \
            WsClient.open(server, second_device.json()["data"]["token"]) as second, \
            WsClient.open(server, bystander.token) as other:
        result = cli_beside(server, tmp_path).run("user", "revoke-sessions", "--email",
                                                  user.email)
        revoked_at = time.monotonic()

        assert "revoked 2 sessions" in result.stdout
        for ws in (first, second):
            assert ws.closed_with(timeout=5) == 1008
            assert time.monotonic() - revoked_at < 1.0
        assert "server_time" in other.ok("ping")
    assert user.http.get("/api/auth/me").status_code == 401


def test_user_revoke_sessions_says_so_when_redis_cannot_be_told(
        migrated: Cli, db_path: Path, query: Callable[..., list[dict[str, Any]]]) -> None:
    """With Redis configured the nodes hear of the revocation only through it: when it is
    unreachable the revocation still commits, and the command says the sockets were not
    closed (exit 1) instead of reporting success."""
    email = "unreachable@example.com"
    user_id = create_user_with_sessions(db_path, email, 1)
    offline_bus = Cli(migrated.database_url, migrated.cwd, {
        "COUP_REDIS_URL": "redis://127.0.0.1:1/0", "COUP_COOKIE_SECRET": "cli-test-secret"})

    result = offline_bus.run("user", "revoke-sessions", "--email", email, check=False)

    assert result.returncode == 1
    assert "revoked 1 sessions" in result.stdout
    assert "not told" in result.stderr
    assert [s["revoke_reason"] for s in query(
        "SELECT revoke_reason FROM sessions WHERE user_id = ?", user_id)] == ["ADMIN"]


# --- PostgreSQL ----------------------------------------------------------------------------


def test_cli_migrates_and_bootstraps_on_postgresql(tmp_path: Path) -> None:
    import psycopg2

    pg = create_pg_database()  # skips when PostgreSQL is unreachable, fails under CI=true
    try:
        cli = Cli(pg.url, tmp_path)
        assert "applied: 0001_init" in cli.run("db", "migrate").stdout
        cli.run("admin", "bootstrap", "--email", ADMIN_EMAIL, "--no-password")
        again = cli.run("admin", "bootstrap", "--email", ADMIN_EMAIL, "--no-password")
        assert "(unchanged)" in again.stdout

        conn = psycopg2.connect(pg.url, connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT u.password_hash, r.role, r.granted_by FROM users u "
                    "JOIN admin_roles r ON r.user_id = u.id WHERE u.email = %s", (ADMIN_EMAIL,))
                assert cur.fetchall() == [(None, "SUPER_ADMIN", None)]
                cur.execute("SELECT action, metadata FROM admin_logs")
                assert cur.fetchall() == [("ADMIN_ROLE_GRANT", {"via": "cli"})]
        finally:
            conn.close()
    finally:
        drop_pg_database(pg.name)
