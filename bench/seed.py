"""Benchmark databases: a fresh PostgreSQL database or SQLite file, migrated and filled directly.

Signing 10,000 users up through the REST API would cost a bcrypt hash each; instead users,
login sessions, studies and ACTIVE memberships are inserted with the server's own models
before the server starts. A session token is stored as coup/store/sessions.py stores it: the
SHA-256 hex of the token. Every user is online in the rooms the scenarios use, so no CHAT
notifications are written during the runs.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from coup.store import db as coup_db
from coup.store.fields import new_id, utcnow
from coup.store.migrate import apply_migrations
from coup.store.models import Session, Study, StudyMember, User

CHUNK = 1000


@dataclass
class BenchUser:
    id: str
    token: str


@dataclass
class BenchStudy:
    id: str
    members: list[BenchUser]


@dataclass
class Population:
    """What a seeded database holds; the scenarios pick their users and studies from it."""

    users: list[BenchUser]
    groups: dict[str, list[BenchStudy]] = field(default_factory=dict)


def create_pg_database(admin_dsn: str) -> tuple[str, str]:
    """Create `coup_bench_<hex>`; returns (name, its URL)."""
    name = f"coup_bench_{uuid.uuid4().hex[:12]}"
    with _admin_connection(admin_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_dsn)
    return name, urlunsplit(parts._replace(path=f"/{name}"))


def drop_pg_database(admin_dsn: str, name: str) -> None:
    with _admin_connection(admin_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _admin_connection:
    """An autocommit connection (CREATE/DROP DATABASE cannot run in a transaction)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True

    def __enter__(self) -> psycopg2.extensions.connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def seed(url: str, user_count: int, groups: dict[str, tuple[int, int, int]]) -> Population:
    """Migrate `url` and insert `user_count` users with one live session each, plus, for each
    named group, (first user index, number of studies, members per study) studies whose
    members are consecutive users from that index."""
    database = coup_db.make_database(url)
    coup_db.database.initialize(database)
    database.connect()
    try:
        apply_migrations(database)
        now = utcnow()
        users = [BenchUser(new_id(), secrets.token_urlsafe(32)) for _ in range(user_count)]
        tag = uuid.uuid4().hex[:8]
        _insert(User, [{"id": u.id, "email": f"bench-{tag}-{i}@example.com",
                        "name": f"bench{i}", "provider": "CREDENTIALS", "status": "ACTIVE",
                        "restricted_actions": [], "created_at": now, "updated_at": now}
                       for i, u in enumerate(users)])
        _insert(Session, [{"id": new_id(), "user": u.id,
                           "token_hash": hashlib.sha256(u.token.encode()).hexdigest(),
                           "created_at": now, "last_seen_at": now,
                           "expires_at": now + timedelta(days=30)} for u in users])
        population = Population(users)
        for name, (first, count, size) in groups.items():
            studies = []
            for index in range(count):
                start = first + index * size
                members = users[start:start + size]
                if len(members) < size:
                    raise ValueError(f"group {name} needs more than {user_count} users")
                studies.append(BenchStudy(new_id(), members))
            _insert(Study, [{"id": s.id, "owner": s.members[0].id, "name": f"bench {name} {i}",
                             "description": "benchmark study", "category": "STUDY",
                             "max_members": len(s.members), "tags": [], "status": "ACTIVE",
                             "last_seq": 0, "created_at": now, "updated_at": now}
                            for i, s in enumerate(studies)])
            _insert(StudyMember, [{"id": new_id(), "study": s.id, "user": m.id,
                                   "role": "OWNER" if k == 0 else "MEMBER", "status": "ACTIVE",
                                   "joined_at": now, "created_at": now, "updated_at": now}
                                  for s in studies for k, m in enumerate(s.members)])
            population.groups[name] = studies
        return population
    finally:
        database.close()


def _insert(model: type, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        with coup_db.database.atomic():
            model.insert_many(rows[start:start + CHUNK]).execute()
