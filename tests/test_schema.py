"""The SQL migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

Self-contained: every test migrates its own fresh database (a file under tmp_path, or a scratch
PostgreSQL database created and dropped here). PostgreSQL tests are skipped when the server is
unreachable, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee
import psycopg2
import psycopg2.extensions
import pytest

from coup.store.db import database
from coup.store.fields import EnumField, new_id, utcnow
from coup.store.migrate import apply_migrations, pending_migrations, split_statements
from coup.store.models import (
    ALL_MODELS,
    BaseModel,
    Notification,
    Study,
    StudyEvent,
    User,
)

POSTGRES_ADMIN_URL = os.environ.get(
    "COUP_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]
ALL_MIGRATIONS = ["0001_init"]


# Databases -------------------------------------------------------------------------------------


def _connect_postgres_admin() -> psycopg2.extensions.connection:
    """A connection to the maintenance database, or skip (fail under CI) when it is down."""
    try:
        conn = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is required under CI: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {exc}")
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return conn


def _postgres_database(name: str) -> peewee.PostgresqlDatabase:
    params = psycopg2.extensions.parse_dsn(POSTGRES_ADMIN_URL)
    params.pop("dbname", None)
    return peewee.PostgresqlDatabase(name, **params)


@contextmanager
def _scratch_postgres_name() -> Iterator[str]:
    """Create an empty PostgreSQL database for one test; drop it afterwards."""
    admin = _connect_postgres_admin()
    name = f"coup_test_{secrets.token_hex(6)}"
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def _empty_database(backend: str, tmp_path: Path) -> Iterator[peewee.Database]:
    if backend == "sqlite":
        db = peewee.SqliteDatabase(str(tmp_path / "coup.db"), pragmas={"foreign_keys": 1})
        try:
            yield db
        finally:
            db.close()
        return
    with _scratch_postgres_name() as name:
        db = _postgres_database(name)
        try:
            yield db
        finally:
            db.close()


@contextmanager
def _bound(db: peewee.Database) -> Iterator[peewee.Database]:
    """Point the models at `db` for the duration, then restore whatever they pointed at."""
    previous = database.obj
    database.initialize(db)
    try:
        yield db
    finally:
        database.initialize(previous)


@pytest.fixture(params=BACKENDS, name="empty_db")
def _empty_db_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[peewee.Database]:
    with _empty_database(request.param, tmp_path) as db:
        yield db


@pytest.fixture(name="migrated_db")
def _migrated_db_fixture(empty_db: peewee.Database) -> Iterator[peewee.Database]:
    apply_migrations(empty_db)
    with _bound(empty_db):
        yield empty_db


# Helpers ---------------------------------------------------------------------------------------


def _is_postgres(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def _expected_indexes(model: type[BaseModel]) -> set[tuple[str, tuple[str, ...], bool]]:
    accum = set()
    for index in model._meta.fields_to_index():
        columns = tuple(field.column_name for field in index._expressions)
        accum.add((index._name, columns, bool(index._unique)))
    return accum


def _actual_indexes(
    db: peewee.Database, table: str
) -> dict[tuple[str, tuple[str, ...], bool], str | None]:
    """Secondary indexes of `table` (the primary key's own index left out), with their SQL."""
    accum = {}
    for index in db.get_indexes(table):
        if index.name == f"{table}_pkey" or index.name.startswith("sqlite_autoindex_"):
            continue
        accum[(index.name, tuple(index.columns), bool(index.unique))] = index.sql
    return accum


def _check_values(db: peewee.Database, table: str, column: str) -> set[str]:
    """The values listed in the CHECK (column IN (...)) constraint of `table`."""
    if _is_postgres(db):
        rows = db.execute_sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'c'",
            (table,),
        ).fetchall()
        definitions = [row[0] for row in rows if re.search(rf"\({column}\)::text", row[0])]
    else:
        (table_sql,) = db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        definitions = re.findall(rf"CHECK \({column} IN \(([^)]*)\)\)", table_sql)
    assert len(definitions) == 1, f"{table}.{column}: expected one CHECK, got {definitions}"
    return set(re.findall(r"'([^']*)'", definitions[0]))


def _normalised_default(text: str) -> str:
    """A column default as text without casts and quotes: `'ACTIVE'::character varying` → ACTIVE."""
    text = re.sub(r"::[\w ]+$", "", text.strip())
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1]
    return text


def _expected_default(field: peewee.Field, postgres: bool) -> str | None:
    """How the migration should spell the field's default; None when it has none."""
    value = field.default
    if value is None or value is new_id or field.primary_key:
        return None
    if value is utcnow:
        return "(now)"
    if value is list:
        return "[]"
    if isinstance(value, bool):
        return ("true" if value else "false") if postgres else str(int(value))
    return str(value)


# Structure -------------------------------------------------------------------------------------


def test_migrations_create_every_model_table_with_its_columns(migrated_db: peewee.Database) -> None:
    # sqlite_sequence is SQLite's own bookkeeping for the AUTOINCREMENT of study_events.
    tables = {name for name in migrated_db.get_tables() if not name.startswith("sqlite_")}
    for model in ALL_MODELS:
        table = model._meta.table_name
        assert table in tables, f"table {table} missing"
        columns = {column.name: column for column in migrated_db.get_columns(table)}
        fields = {field.column_name: field for field in model._meta.sorted_fields}
        assert set(columns) == set(fields), table
        for name, field in fields.items():
            assert columns[name].null == field.null, f"{table}.{name} nullability"
            assert columns[name].primary_key == field.primary_key, f"{table}.{name} primary key"
    assert tables == {m._meta.table_name for m in ALL_MODELS} | {"schema_migrations"}


def test_migrations_create_exactly_the_model_indexes(migrated_db: peewee.Database) -> None:
    for model in ALL_MODELS:
        table = model._meta.table_name
        actual = _actual_indexes(migrated_db, table)
        assert set(actual) == _expected_indexes(model), table

    (unread_chat_sql,) = [
        sql
        for (name, _, _), sql in _actual_indexes(migrated_db, "notifications").items()
        if name == "notifications_user_id_study_id_unread_chat"
    ]
    assert "WHERE" in (unread_chat_sql or "").upper()


def test_every_foreign_key_references_its_model_with_its_action_and_is_indexed(
    migrated_db: peewee.Database,
) -> None:
    for model in ALL_MODELS:
        table = model._meta.table_name
        actual = {
            fk.column: (fk.dest_table, fk.dest_column, (fk.on_delete or "").upper())
            for fk in migrated_db.get_foreign_keys(table)
        }
        expected = {
            field.column_name: (field.rel_model._meta.table_name, "id", field.on_delete)
            for field in model._meta.refs
        }
        assert actual == expected, table
        leading_columns = {columns[0] for _, columns, _ in _actual_indexes(migrated_db, table)}
        for column in expected:
            assert column in leading_columns, f"{table}.{column} has no index starting with it"


def test_enum_columns_check_exactly_the_enum_values(migrated_db: peewee.Database) -> None:
    for model in ALL_MODELS:
        for field in model._meta.sorted_fields:
            if isinstance(field, EnumField):
                table = model._meta.table_name
                values = _check_values(migrated_db, table, field.column_name)
                assert values == set(field.values), f"{table}.{field.column_name}"


def test_column_defaults_match_the_model_defaults(migrated_db: peewee.Database) -> None:
    postgres = _is_postgres(migrated_db)
    for model in ALL_MODELS:
        table = model._meta.table_name
        columns = {column.name: column for column in migrated_db.get_columns(table)}
        for field in model._meta.sorted_fields:
            expected = _expected_default(field, postgres)
            actual = columns[field.column_name].default
            where = f"{table}.{field.column_name}"
            if field.primary_key:
                continue
            if expected is None:
                assert actual is None, f"{where} has default {actual!r}"
            elif expected == "(now)":
                assert actual is not None and (
                    "now()" in actual or "CURRENT_TIMESTAMP" in actual
                ), where
            else:
                assert actual is not None and _normalised_default(actual) == expected, where


# Migration runner ------------------------------------------------------------------------------


def test_migrating_twice_applies_nothing_the_second_time(empty_db: peewee.Database) -> None:
    assert pending_migrations(empty_db) == ALL_MIGRATIONS
    assert apply_migrations(empty_db) == ALL_MIGRATIONS
    assert pending_migrations(empty_db) == []
    assert apply_migrations(empty_db) == []
    recorded = empty_db.execute_sql("SELECT name FROM schema_migrations").fetchall()
    assert [row[0] for row in recorded] == ALL_MIGRATIONS


def test_nodes_migrating_postgres_at_once_apply_each_migration_once() -> None:
    with _scratch_postgres_name() as name:
        barrier = threading.Barrier(3)
        results: list[list[str]] = []
        errors: list[BaseException] = []

        def migrate() -> None:
            db = _postgres_database(name)
            try:
                barrier.wait()
                results.append(apply_migrations(db))
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                db.close()

        threads = [threading.Thread(target=migrate) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert sorted(results) == [[], [], ALL_MIGRATIONS]


def test_statements_split_on_semicolons_outside_quotes_and_comments() -> None:
    script = """
        -- a comment; with a semicolon
        CREATE TABLE a (x TEXT DEFAULT 'a;b', "odd;name" TEXT);  /* block; comment */
        INSERT INTO a (x) VALUES ('it''s; fine');
        ;
    """
    assert split_statements(script) == [
        """CREATE TABLE a (x TEXT DEFAULT 'a;b', "odd;name" TEXT)""",
        "INSERT INTO a (x) VALUES ('it''s; fine')",
    ]


# Behaviour through the models ------------------------------------------------------------------


def _create_user(**fields: Any) -> User:
    fields.setdefault("email", f"{new_id().lower()}@example.com")
    fields.setdefault("name", "김코업")
    return User.create(**fields)


def _create_study(owner: User, **fields: Any) -> Study:
    fields.setdefault("name", "알고리즘 스터디")
    fields.setdefault("description", "매주 토요일 알고리즘 문제를 풉니다.")
    fields.setdefault("category", "programming")
    return Study.create(owner=owner, **fields)


def test_user_and_study_round_trip_with_json(migrated_db: peewee.Database) -> None:
    widgets = [{"type": "STATISTICS", "visible": True, "order": 0}]
    user = _create_user(dashboard_widgets=widgets)
    study = _create_study(user, tags=["파이썬", "SQL", "알고리즘"])

    user_back = User.get_by_id(user.id)
    assert user_back.email == user.email
    assert user_back.name == "김코업"
    assert user_back.restricted_actions == []
    assert user_back.dashboard_widgets == widgets
    assert user_back.status == "ACTIVE"
    assert user_back.provider == "CREDENTIALS"
    assert user_back.created_at == user.created_at
    assert user_back.created_at.tzinfo is None

    study_back = Study.get_by_id(study.id)
    assert study_back.owner_id == user.id
    assert study_back.tags == ["파이썬", "SQL", "알고리즘"]
    assert study_back.emoji == "📚"
    assert study_back.is_public is True
    assert study_back.is_hidden is False
    assert study_back.rating == 0
    assert study_back.last_seq == 0

    (raw_tags,) = migrated_db.execute_sql("SELECT tags FROM studies").fetchone()
    if not _is_postgres(migrated_db):
        assert "파이썬" in raw_tags  # stored readable, not as \\uXXXX escapes

    event = StudyEvent.create(
        study=study, seq=1, type="chat:new-message", payload={"study_id": study.id, "seq": 1}
    )
    assert isinstance(event.id, int)
    assert StudyEvent.get_by_id(event.id).payload == {"study_id": study.id, "seq": 1}


def test_saving_or_updating_a_row_moves_updated_at(migrated_db: peewee.Database) -> None:
    user = _create_user()
    first = User.get_by_id(user.id).updated_at

    user.name = "이코업"
    user.save()
    second = User.get_by_id(user.id).updated_at
    assert second > first

    User.update(bio="안녕하세요").where(User.id == user.id).execute()
    assert User.get_by_id(user.id).updated_at > second


def test_enum_columns_reject_unknown_values(migrated_db: peewee.Database) -> None:
    with pytest.raises(peewee.IntegrityError), migrated_db.atomic():
        _create_user(status="BANNED")


def test_one_unread_chat_notification_per_user_and_study(migrated_db: peewee.Database) -> None:
    user = _create_user()
    study_id = new_id()

    def notify(**fields: Any) -> Notification:
        return Notification.create(
            user=user, type="CHAT", study_id=study_id, message="새 메시지", **fields
        )

    first = notify()
    with pytest.raises(peewee.IntegrityError), migrated_db.atomic():
        notify()
    notify(is_read=True)  # read ones do not count
    Notification.update(is_read=True).where(Notification.id == first.id).execute()
    notify()


def test_deleting_a_study_cascades_but_its_owner_cannot_be_deleted(
    migrated_db: peewee.Database,
) -> None:
    owner = _create_user()
    study = _create_study(owner)
    StudyEvent.create(study=study, seq=1, type="study:created", payload={})

    with pytest.raises(peewee.IntegrityError), migrated_db.atomic():
        owner.delete_instance()

    study.delete_instance()
    assert StudyEvent.select().count() == 0
    assert User.get_by_id(owner.id).id == owner.id
