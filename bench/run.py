"""Run the realtime benchmark of issue 5 against CoUp and the ceiling server, side by side, and
the two-node run of issue 6.

    .venv/bin/python -m bench.run            # full run (about 6-8 minutes)
    .venv/bin/python -m bench.run --quick    # a few seconds per scenario (smoke test)
    .venv/bin/python -m bench.run --only b,c # some scenarios only

Each scenario starts a fresh server (CoUp as `coup serve`, or bench/ceiling_server.py) pinned to
core 0 and the load generator (bench/loadgen.py) pinned to core 1, then stops both. CoUp runs
on a PostgreSQL database created for the run (`coup_bench_<hex>`, dropped at the end) and, for
scenario (a), also on a temporary SQLite file. Scenario (e) runs (a)'s shape on two CoUp nodes
(same database, one Redis) behind HAProxy (bench/cluster.py). Users, sessions, studies and
memberships are inserted before the servers start (bench/seed.py). Prints a table and writes
JSON to bench/results/latest.json. See bench/README.md for the columns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tornado

from bench import report, servers
from bench.cluster import Cluster, start_cluster
from bench.seed import Population, create_pg_database, drop_pg_database, seed
from bench.servers import REPO, Profiler, Server, run_loadgen, start_ceiling, start_coup

RESULTS = REPO / "bench" / "results"


def plans(quick: bool) -> dict[str, dict[str, Any]]:
    """Scenario parameters; --quick keeps the shapes and shortens the windows."""
    a_shape = {"rooms": 50, "members": 20, "msgs_per_room_per_s": 1, "samples_per_room": 10,
               "warmup": 1 if quick else 2, "seconds": 4 if quick else 30}
    return {
        "a": {**a_shape, "seconds_other": 4 if quick else 20},
        "b": {"members": 200, "senders": 50, "samples": 10, "start_rate": 10, "rcvlowat": 4096,
              "factor": 2.0 if quick else 1.25, "max_rate": 800 if quick else 4000,
              "warmup": 0.5 if quick else 1.0, "seconds": 1.0 if quick else 2.5,
              "p99_limit_ms": 100},
        "c": {"connections": 1000 if quick else 10_000, "concurrency": 100, "settle": 1 if quick
              else 2, "local_hosts": ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]},
        "d": {"rooms": 100, "members": 5, "ack_p99_limit_ms": 50,
              "rates": [500, 2000] if quick else
              [500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000],
              "warmup": 0.5 if quick else 1.0, "first_seconds": 2 if quick else 10,
              "seconds": 1.5 if quick else 3},
        # (a)'s shape and window on two nodes, so its figures compare with (a) on PostgreSQL.
        "e": dict(a_shape),
    }


def groups(plan: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    """Study groups by scenario: (first user index, studies, members per study). (e) has its
    own users and studies, so it starts from the same state whatever ran before it."""
    a, b, d, e = plan["a"], plan["b"], plan["d"], plan["e"]
    a_users = a["rooms"] * a["members"]
    d_first = a_users + b["members"]
    e_first = d_first + d["rooms"] * d["members"]
    return {"a": (0, a["rooms"], a["members"]), "b": (a_users, 1, b["members"]),
            "d": (d_first, d["rooms"], d["members"]), "e": (e_first, e["rooms"], e["members"])}


def user_count(plan: dict[str, dict[str, Any]]) -> int:
    e = plan["e"]
    in_rooms = groups(plan)["e"][0] + e["rooms"] * e["members"]
    return max(in_rooms, plan["c"]["connections"] + 1)  # (c) opens one warm-up connection


def rooms_spec(population: Population, group: str, with_tokens: bool) -> list[dict[str, Any]]:
    return [{"study_id": s.id,
             "tokens": [m.token if with_tokens else None for m in s.members]}
            for s in population.groups[group]]


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.plan = plans(args.quick)
        self.logs = RESULTS / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.timeout = 90 if args.quick else 150
        self.results: dict[str, dict[str, Any]] = {}

    def run_one(self, scenario: str, label: str, server: Server | Cluster, spec: dict[str, Any],
                profile: bool = False) -> dict[str, Any]:
        print(f"({scenario}) {label}: {server.describe()}", file=sys.stderr, flush=True)
        spec = {**spec, "scenario": scenario, "host": "127.0.0.1", "port": server.port,
                "server_pid": server.pid}
        profiler = None
        if profile:
            out = RESULTS / f"profile-{scenario}-{label}.txt"
            profiler = Profiler(server.pid, out, self.args.profile_seconds,
                                self.args.profile_delay)
        started = time.monotonic()
        try:
            result = run_loadgen(spec, self.work, self.timeout)
        finally:
            server.stop()
        result["wall_seconds"] = round(time.monotonic() - started, 1)
        result["server"] = server.log_summary()
        if profiler is not None and (raw := profiler.finish()) is not None:
            result["profile"] = str(raw)
            print(report.profile_summary(raw), file=sys.stderr)
        if "error" in result:
            print(f"  FAILED: {result['error']}", file=sys.stderr)
        self.results.setdefault(scenario, {})[label] = result
        return result

    def coup(self, label: str, url: str) -> Server:
        return start_coup(label, url, self.work, self.logs)

    def ceiling(self, label: str) -> Server:
        return start_ceiling(label, self.work, self.logs)

    def scenario_a(self, pg_url: str, pg: Population, sqlite: tuple[str, Population] | None
                   ) -> None:
        p = self.plan["a"]
        base = {"msgs_per_room_per_s": p["msgs_per_room_per_s"],
                "samples_per_room": p["samples_per_room"], "warmup": p["warmup"]}
        self.run_one("a", "coup-postgresql", self.coup("a-coup-postgresql", pg_url),
                     {**base, "rooms": rooms_spec(pg, "a", True), "seconds": p["seconds"]},
                     self.args.profile == "a")
        if sqlite is not None:
            url, population = sqlite
            self.run_one("a", "coup-sqlite", self.coup("a-coup-sqlite", url),
                         {**base, "rooms": rooms_spec(population, "a", True),
                          "seconds": p["seconds_other"]})
        self.run_one("a", "ceiling", self.ceiling("a-ceiling"),
                     {**base, "rooms": rooms_spec(pg, "a", False),
                      "seconds": p["seconds_other"]})

    def scenario_b(self, pg_url: str, pg: Population) -> None:
        p = self.plan["b"]
        base = {k: p[k] for k in ("senders", "samples", "start_rate", "factor", "max_rate",
                                  "warmup", "seconds", "p99_limit_ms", "rcvlowat")}
        self.run_one("b", "coup-postgresql", self.coup("b-coup-postgresql", pg_url),
                     {**base, "rooms": rooms_spec(pg, "b", True)}, self.args.profile == "b")
        self.run_one("b", "ceiling", self.ceiling("b-ceiling"),
                     {**base, "rooms": rooms_spec(pg, "b", False)})

    def scenario_c(self, pg_url: str, pg: Population) -> None:
        p = self.plan["c"]
        count = p["connections"] + 1
        base = {k: p[k] for k in ("concurrency", "settle", "local_hosts")}
        self.run_one("c", "coup-postgresql", self.coup("c-coup-postgresql", pg_url),
                     {**base, "tokens": [u.token for u in pg.users[:count]]},
                     self.args.profile == "c")
        self.run_one("c", "ceiling", self.ceiling("c-ceiling"),
                     {**base, "tokens": [None] * count})

    def scenario_d(self, pg_url: str, pg: Population) -> None:
        p = self.plan["d"]
        base = {k: p[k] for k in ("ack_p99_limit_ms", "rates", "warmup", "first_seconds",
                                  "seconds")}
        self.run_one("d", "coup-postgresql", self.coup("d-coup-postgresql", pg_url),
                     {**base, "rooms": rooms_spec(pg, "d", True)}, self.args.profile == "d")

    def scenario_e(self, pg_url: str, pg: Population) -> None:
        """(a)'s load through HAProxy onto two nodes that share the database and Redis."""
        p = self.plan["e"]
        label = "coup-2-nodes"
        try:
            cluster = start_cluster("e", pg_url, self.args.redis_url, self.work, self.logs)
        except RuntimeError as exc:  # no haproxy or no Redis: the other scenarios still count
            print(f"(e) {label}: FAILED to start: {exc}", file=sys.stderr)
            self.results.setdefault("e", {})[label] = {"error": str(exc)}
            return
        try:
            spec = {k: p[k] for k in ("msgs_per_room_per_s", "samples_per_room", "warmup",
                                      "seconds")}
            spec |= {"rooms": rooms_spec(pg, "e", True),
                     "server_pids": [node.pid for node in cluster.nodes],
                     "watched_pids": cluster.process_pids(), "track_redis": True}
            result = self.run_one("e", label, cluster, spec)  # stops the cluster
        finally:
            cluster.stop()  # already done unless something failed before the load generator
        result["haproxy_sessions"] = cluster.haproxy_sessions
        result["redis_prefix"] = cluster.prefix
        result["redis_keys_deleted"] = cluster.redis_keys_deleted


def environment(pg_dsn: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "tornado": tornado.version, "platform": platform.platform(),
        "taskset": bool(shutil.which("taskset")),
    }
    try:
        import psycopg2

        with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
            cur.execute("SHOW server_version")
            info["postgresql"] = cur.fetchone()[0]
        conn.close()
    except Exception as exc:  # reported, not fatal: the PostgreSQL leg will fail loudly
        info["postgresql"] = f"unavailable: {exc}"
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CoUp realtime benchmark (issues 5 and 6)")
    parser.add_argument("--quick", action="store_true", help="a few seconds per scenario")
    parser.add_argument("--only", default="a,b,c,d,e", help="scenarios to run, e.g. a,e")
    parser.add_argument("--no-sqlite", action="store_true", help="skip (a) on SQLite")
    parser.add_argument("--pg-dsn", default=os.environ.get(
        "COUP_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="an admin DSN that may CREATE DATABASE")
    parser.add_argument("--redis-url", default=os.environ.get(
        "COUP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="the Redis the two nodes of (e) share (under a key prefix of their own)")
    parser.add_argument("--profile", choices=["a", "b", "c", "d"],
                        help="attach py-spy to CoUp during this scenario (affects its numbers)")
    parser.add_argument("--profile-seconds", type=float, default=20)
    parser.add_argument("--profile-delay", type=float, default=8,
                        help="seconds after the load generator starts (skips the set-up)")
    parser.add_argument("--nice", type=int, default=0,
                        help="run servers and load generator at this nice value (e.g. -10 on a "
                             "shared machine; negative values need root)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    servers.NICE = args.nice
    only = [s.strip() for s in args.only.split(",") if s.strip()]

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="coup-bench-"))
    bench = Bench(args, work)
    pg_name = None
    try:
        plan = bench.plan
        print(f"seeding {user_count(plan)} users ...", file=sys.stderr, flush=True)
        pg_name, pg_url = create_pg_database(args.pg_dsn)
        pg = seed(pg_url, user_count(plan), groups(plan))
        sqlite = None
        if "a" in only and not args.no_sqlite:
            sqlite_url = f"sqlite:///{work / 'bench.db'}"
            sqlite = (sqlite_url, seed(sqlite_url, plan["a"]["rooms"] * plan["a"]["members"],
                                       {"a": groups(plan)["a"]}))
        print(f"seeded in {time.monotonic() - started:.1f} s (PostgreSQL database {pg_name})",
              file=sys.stderr, flush=True)
        for scenario in only:
            if scenario == "a":
                bench.scenario_a(pg_url, pg, sqlite)
            elif scenario == "b":
                bench.scenario_b(pg_url, pg)
            elif scenario == "c":
                bench.scenario_c(pg_url, pg)
            elif scenario == "d":
                bench.scenario_d(pg_url, pg)
            elif scenario == "e":
                bench.scenario_e(pg_url, pg)
    finally:
        if pg_name is not None:
            drop_pg_database(args.pg_dsn, pg_name)
        shutil.rmtree(work, ignore_errors=True)

    document = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick, "nice": args.nice,
        "total_seconds": round(time.monotonic() - started, 1),
        "environment": environment(args.pg_dsn), "plan": bench.plan,
        "scenarios": bench.results,
    }
    document["targets"] = report.targets(bench.results)
    print(report.render(document))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
