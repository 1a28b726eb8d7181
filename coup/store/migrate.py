"""Apply the numbered SQL migrations in `sql/<dialect>/` that a database has not seen yet.

Each `NNNN_name.sql` file runs in its own transaction together with the row that records it in
`schema_migrations`, so a file is either wholly applied and recorded or not at all. Several nodes
may start at once: on PostgreSQL each file is applied under a transaction-level advisory lock and
re-checked once the lock is held; on SQLite the transaction takes the write lock up front.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from coup.store.fields import utcnow

logger = logging.getLogger(__name__)

MIGRATION_FILE_PATTERN = re.compile(r"^\d{4}_\w+\.sql$")

# Any fixed 64-bit key works; it only has to be the same on every node. 0x636F7570 is "coup".
ADVISORY_LOCK_KEY = 0x636F7570

_CREATE_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "name TEXT NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
)


def default_sql_root() -> Path:
    """Where the migration folders live: the repository's `sql/` (a checkout or an editable
    install), else the copy a regular install puts in `<prefix>/share/coup/sql`."""
    repository = Path(__file__).resolve().parents[2] / "sql"
    if repository.is_dir():
        return repository
    return Path(sys.prefix) / "share" / "coup" / "sql"


def dialect_of(db: peewee.Database) -> str:
    """The name of the migration folder for `db`: `postgresql` or `sqlite`."""
    if isinstance(db, peewee.DatabaseProxy):
        db = db.obj
    if isinstance(db, peewee.PostgresqlDatabase):
        return "postgresql"
    if isinstance(db, peewee.SqliteDatabase):
        return "sqlite"
    raise ValueError(f"No migrations for {type(db).__name__}; use SQLite or PostgreSQL.")


def migration_files(db: peewee.Database, sql_root: Path | None = None) -> list[Path]:
    """Every migration file for `db`'s dialect, in the order they apply."""
    folder = (sql_root or default_sql_root()) / dialect_of(db)
    if not folder.is_dir():
        raise FileNotFoundError(f"Migration folder {folder} is missing.")
    return sorted(p for p in folder.iterdir() if MIGRATION_FILE_PATTERN.match(p.name))


def pending_migrations(db: peewee.Database, sql_root: Path | None = None) -> list[str]:
    """The names (file stems) of the migrations not yet applied to `db`, in order."""
    applied = _applied_names(db) if db.table_exists("schema_migrations") else set()
    return [p.stem for p in migration_files(db, sql_root) if p.stem not in applied]


def apply_migrations(db: peewee.Database, sql_root: Path | None = None) -> list[str]:
    """Apply every pending migration to `db`, one transaction per file; return their names."""
    files = migration_files(db, sql_root)
    with _locked_transaction(db):
        db.execute_sql(_CREATE_MIGRATIONS_TABLE)

    applied_now: list[str] = []
    for path in files:
        with _locked_transaction(db):
            # Checked again under the lock: another node may have applied it meanwhile.
            if path.stem in _applied_names(db):
                continue
            started = time.monotonic()
            for statement in split_statements(path.read_text(encoding="utf-8")):
                db.execute_sql(statement)
            db.execute_sql(
                f"INSERT INTO schema_migrations (name, applied_at) VALUES ({db.param}, {db.param})",
                (path.stem, utcnow().isoformat(sep=" ")),
            )
        logger.info(
            "Applied migration %s to %s in %.3f s",
            path.stem,
            dialect_of(db),
            time.monotonic() - started,
        )
        applied_now.append(path.stem)
    return applied_now


def split_statements(sql: str) -> list[str]:
    """Split a script on `;`, ignoring semicolons in quotes and comments; drop comments.

    Enough for our own migration files; not a full SQL lexer (no dollar quoting).
    """
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            # Quoted string or identifier; a doubled quote is an escaped one and stays inside.
            end = i + 1
            while end < n:
                if sql[end] == char:
                    if end + 1 < n and sql[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
            current.append(" ")
        elif char == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(char)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _applied_names(db: peewee.Database) -> set[str]:
    return {row[0] for row in db.execute_sql("SELECT name FROM schema_migrations").fetchall()}


@contextmanager
def _locked_transaction(db: peewee.Database) -> Iterator[None]:
    """A transaction that no other migrating node can run at the same time."""
    if dialect_of(db) == "sqlite":
        # IMMEDIATE takes the write lock at BEGIN, so the applied-check cannot race a writer.
        with db.atomic(lock_type="IMMEDIATE"):
            yield
        return
    with db.atomic():
        # Released by the commit or rollback that ends the transaction.
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        yield
