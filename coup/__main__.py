"""The `coup` command line (COUP.md §13); `python -m coup` is the same program."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from coup.config import ConfigError, load_settings
from coup.errors import ApiError
from coup.validation import Email, FieldInvalid, parse_instant

log = logging.getLogger("coup")


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(host=getattr(args, "host", None), port=getattr(args, "port", None))
    except ConfigError as exc:
        print(f"coup: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.handler(settings, args) or 0)
    except ApiError as exc:
        print(f"coup: {exc.code}: {exc.message('en')}", file=sys.stderr)
        return 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coup", description="CoUp study-group server")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run a server node")
    serve.add_argument("--host", help="address to listen on (COUP_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (COUP_PORT)")
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database commands").add_subparsers(dest="db_command")
    db.add_parser("migrate", help="apply schema migrations").set_defaults(handler=_db_migrate)
    db.add_parser("seed", help="insert missing system settings").set_defaults(handler=_db_seed)

    admin = commands.add_parser("admin", help="platform admins").add_subparsers(dest="admin_cmd")
    bootstrap = admin.add_parser("bootstrap", help="create or promote the first SUPER_ADMIN")
    bootstrap.add_argument("--email", required=True)
    bootstrap.add_argument("--name", default="관리자")
    bootstrap.add_argument("--no-password", action="store_true")
    bootstrap.set_defaults(handler=_admin_bootstrap)
    grant = admin.add_parser("grant", help="grant a platform admin role")
    grant.add_argument("--email", required=True)
    grant.add_argument("--role", required=True,
                       choices=["VIEWER", "MODERATOR", "ADMIN", "SUPER_ADMIN"])
    grant.add_argument("--expires", help="ISO-8601 instant with a zone")
    grant.set_defaults(handler=_admin_grant)
    revoke = admin.add_parser("revoke", help="revoke a platform admin role")
    revoke.add_argument("--email", required=True)
    revoke.set_defaults(handler=_admin_revoke)
    admin.add_parser("list", help="list platform admins").set_defaults(handler=_admin_list)

    user = commands.add_parser("user", help="user commands").add_subparsers(dest="user_cmd")
    revoke_sessions = user.add_parser("revoke-sessions", help="log a user out everywhere")
    revoke_sessions.add_argument("--email", required=True)
    revoke_sessions.set_defaults(handler=_user_revoke_sessions)
    from coup.jobs import JOBS

    jobs = commands.add_parser("jobs", help="background jobs").add_subparsers(dest="jobs_cmd")
    run = jobs.add_parser("run", help="run one background job now")
    run.add_argument("job", choices=list(JOBS))
    run.set_defaults(handler=_jobs_run)
    return parser


def _jobs_run(settings: Any, args: argparse.Namespace) -> int:
    from coup.jobs import run_job

    counts = _with_database(settings, lambda: run_job(args.job, settings))
    print(f"{args.job}: " + ", ".join(f"{key}={value}" for key, value in counts.items()))
    return 0


def _serve(settings: Any, args: argparse.Namespace) -> int:
    from coup.node import Node

    asyncio.run(Node(settings).serve_forever())
    return 0


def _with_database(settings: Any, work: Callable[[], Awaitable[Any]]) -> Any:
    """Open the database (migrating it), run `work`, close it."""
    from coup.store import db
    from coup.store.migrate import apply_migrations

    async def run() -> Any:
        runner = db.open_database(settings.database_url, 1)
        try:
            await runner.run(apply_migrations, db.database.obj)
            return await work()
        finally:
            db.close_database()

    return asyncio.run(run())


def _db_migrate(settings: Any, args: argparse.Namespace) -> int:
    from coup.store import db
    from coup.store.migrate import apply_migrations

    async def run() -> list[str]:
        runner = db.open_database(settings.database_url, 1)
        try:
            return await runner.run(apply_migrations, db.database.obj)
        finally:
            db.close_database()

    applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "the schema is up to date")
    return 0


def _db_seed(settings: Any, args: argparse.Namespace) -> int:
    from coup.store.system_settings import seed_settings

    inserted = _with_database(settings, seed_settings)
    print(f"inserted {len(inserted)} settings" + (": " + ", ".join(inserted) if inserted else ""))
    return 0


def _admin_bootstrap(settings: Any, args: argparse.Namespace) -> int:
    from coup.passwords import hash_password, password_problem
    from coup.rules import USER_NAME
    from coup.store.admin_roles import bootstrap_super_admin

    email = _clean_email(args.email)
    try:
        name = USER_NAME.check(args.name)
    except FieldInvalid as exc:
        print(f"coup: --name {exc}", file=sys.stderr)
        return 2
    password_hash = None
    if not args.no_password:
        password = _read_password()
        problem = password_problem(password, email=email, min_length=8)
        if problem:
            print(f"coup: the password {problem}", file=sys.stderr)
            return 2
        password_hash = hash_password(password, settings.bcrypt_rounds)
    user_id, changed = _with_database(
        settings, lambda: bootstrap_super_admin(email, name, password_hash))
    print(f"{email} ({user_id}) is SUPER_ADMIN" + ("" if changed else " (unchanged)"))
    return 0


def _admin_grant(settings: Any, args: argparse.Namespace) -> int:
    from coup.store.admin_roles import grant_role

    expires = None
    if args.expires:
        try:
            expires = parse_instant(args.expires)
        except FieldInvalid as exc:
            print(f"coup: --expires {exc}", file=sys.stderr)
            return 2
    email = _clean_email(args.email)
    _with_database(settings, lambda: grant_role(email, args.role, expires))
    print(f"{email} is {args.role}")
    return 0


def _admin_revoke(settings: Any, args: argparse.Namespace) -> int:
    from coup.store.admin_roles import revoke_role

    email = _clean_email(args.email)
    removed = _with_database(settings, lambda: revoke_role(email))
    print(f"{email}: role revoked" if removed else f"{email} had no admin role")
    return 0


def _admin_list(settings: Any, args: argparse.Namespace) -> int:
    from coup.jsonutil import iso
    from coup.store.admin_roles import list_roles

    for row in _with_database(settings, list_roles):
        print(f"{row['email']}\t{row['role']}\tgranted {iso(row['granted_at'])}\t"
              f"expires {iso(row['expires_at']) or 'never'}")
    return 0


def _user_revoke_sessions(settings: Any, args: argparse.Namespace) -> int:
    from coup.store.accounts import find_user_by_email
    from coup.store.sessions import revoke_user_sessions

    email = _clean_email(args.email)

    async def work() -> tuple[list[str], str | None]:
        user = await find_user_by_email(email)
        if user is None:
            raise ApiError("NOT_FOUND", message=f"no user with email {email}")
        revoked = await revoke_user_sessions(user.id, "ADMIN")
        return revoked, await _tell_nodes_sessions_revoked(settings, revoked, "ADMIN")

    revoked, problem = _with_database(settings, work)
    print(f"revoked {len(revoked)} sessions of {email}")
    if problem:
        print(f"coup: the sessions are revoked, but the nodes were not told ({problem}): "
              "their open sockets stay until they reconnect", file=sys.stderr)
        return 1
    return 0


async def _tell_nodes_sessions_revoked(settings: Any, session_ids: list[str],
                                       reason: str) -> str | None:
    """Close the revoked sessions' sockets on every running node (COUP.md §5.1, within 1 s);
    returns what went wrong, or None. REST refuses the sessions already (the database says
    so); sockets are only checked at connect, so the nodes must be told. With Redis, through
    the bus, as a node's own revocation is. Without Redis there is one node, and it finds the
    revocation in the database by itself (Realtime.close_sockets_of_revoked_sessions)."""
    if not session_ids or not settings.redis_url:
        return None
    from redis.exceptions import RedisError

    from coup.bus.messages import SessionsRevoked
    from coup.bus.redis_streams import publish_to_every_node

    try:
        await publish_to_every_node(settings.redis_url, settings.redis_prefix, "cli",
                                    SessionsRevoked(tuple(session_ids), reason))
    except (RedisError, OSError) as exc:
        return f"Redis: {exc}"
    return None


def _clean_email(raw: str) -> str:
    try:
        return Email().check(raw)
    except FieldInvalid as exc:
        print(f"coup: --email {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat: "):
            raise SystemExit("coup: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


if __name__ == "__main__":
    sys.exit(main())
