"""Scenario (e)'s servers: two CoUp nodes on one PostgreSQL database and one Redis, behind
HAProxy (least connections, no stickiness, WebSocket upgrade), as deploy/haproxy.cfg runs them.

The nodes share the scenario's database and a Redis key prefix of their own
(`coup-bench-<hex>:`), so they never meet another cluster on the same Redis; every key under
that prefix is deleted when the cluster stops. Both nodes and HAProxy are pinned to the server
core, like the single server of the other scenarios (see bench/README.md for why).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import SERVER_CORE, Server, free_port, pinned, spawn, start_coup, wait_until

NODE_NAMES = ("node1", "node2")
BACKEND = "coup_nodes"


def haproxy_config(port: int, stats_port: int, nodes: list[tuple[str, int]]) -> str:
    """deploy/haproxy.cfg reduced to what the benchmark needs: least connections, no
    stickiness, /ready health checks, long WebSocket tunnels, a stats page for the counts."""
    lines = [
        "global",
        # Each connection takes two descriptors and HAProxy refuses to start when it cannot
        # raise its limit to about 2 x maxconn: 4,000 fits a hard limit of 20,000 and leaves
        # room above (e)'s 1,000 connections.
        "    maxconn 4000",
        # One thread: HAProxy is pinned to the server core with the nodes.
        "    nbthread 1",
        "    log stdout format raw local0",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        # Only failed or aborted sessions are logged, so the log shows problems, not traffic.
        "    option dontlog-normal",
        "    option forwardfor",
        "    option redispatch 1",
        "    retries 3",
        "    maxconn 4000",
        "    timeout connect 3s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    timeout tunnel 1h",
        "    timeout client-fin 5s",
        "frontend coup",
        f"    bind 127.0.0.1:{port}",
        f"    default_backend {BACKEND}",
        f"backend {BACKEND}",
        "    balance leastconn",
        "    option httpchk",
        "    http-check send meth GET uri /ready ver HTTP/1.1 hdr Host coup",
        "    http-check expect status 200",
        "    default-server inter 1s fastinter 500ms downinter 2s fall 2 rise 1",
    ]
    lines += [f"    server {name} 127.0.0.1:{node_port} check" for name, node_port in nodes]
    lines += ["listen stats", f"    bind 127.0.0.1:{stats_port}", "    stats enable",
              "    stats uri /stats"]
    return "\n".join(lines) + "\n"


@dataclass
class Cluster:
    """The running processes of scenario (e); `stop()` ends all of them and deletes the Redis
    keys, whatever state the start left them in."""

    label: str
    redis_url: str
    prefix: str
    nodes: list[Server] = field(default_factory=list)
    proxy: Server | None = None
    stats_port: int = 0
    # Filled by stop(): what HAProxy counted per node, and how many Redis keys were removed.
    haproxy_sessions: dict[str, dict[str, int]] = field(default_factory=dict)
    redis_keys_deleted: int | None = None
    stopped: bool = False

    @property
    def pid(self) -> int:
        return self.nodes[0].pid

    @property
    def port(self) -> int:
        """Where the clients connect: HAProxy's frontend."""
        assert self.proxy is not None
        return self.proxy.port

    def process_pids(self) -> dict[str, int]:
        """The processes whose CPU the load generator reports one by one."""
        pids = {name: node.pid for name, node in zip(NODE_NAMES, self.nodes, strict=False)}
        if self.proxy is not None:
            pids["haproxy"] = self.proxy.pid
        return pids

    def describe(self) -> str:
        nodes = ", ".join(f"{name} pid {node.pid} port {node.port}"
                          for name, node in zip(NODE_NAMES, self.nodes, strict=False))
        proxy = self.proxy
        return f"{nodes}; haproxy pid {proxy.pid if proxy else '-'} on port {self.port}"

    def stop(self) -> None:
        """HAProxy first (after reading its counters), then the nodes, then the Redis keys;
        each step runs even if an earlier one failed. A second call does nothing."""
        if self.stopped:
            return
        self.stopped = True
        steps = [self._read_sessions, self._stop_proxy, *[node.stop for node in self.nodes],
                 self._delete_redis_keys]
        failures = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # reported below; the remaining steps must still run
                failures.append(f"{getattr(step, '__name__', step)}: {exc}")
        for failure in failures:
            print(f"  cluster cleanup: {failure}", file=sys.stderr)

    def _stop_proxy(self) -> None:
        if self.proxy is not None:
            self.proxy.stop(5)

    def _read_sessions(self) -> None:
        if self.proxy is not None and self.proxy.process.poll() is None:
            self.haproxy_sessions = haproxy_sessions(self.stats_port)

    def _delete_redis_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
        try:
            keys = list(client.scan_iter(f"{self.prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            self.redis_keys_deleted = len(keys)
        finally:
            client.close()

    def log_summary(self) -> dict[str, Any]:
        """The nodes' and HAProxy's log summaries, added up (with each one under `parts`)."""
        parts = {name: node.log_summary() for name, node in
                 zip(NODE_NAMES, self.nodes, strict=False)}
        if self.proxy is not None:
            parts["haproxy"] = self.proxy.log_summary()
        bad_exits = [p["exit_code"] for p in parts.values() if p["exit_code"] not in (0, -15)]
        return {"log": ", ".join(p["log"] for p in parts.values()),
                "error_lines": sum(p["error_lines"] for p in parts.values()),
                "warning_lines": sum(p["warning_lines"] for p in parts.values()),
                "tracebacks": sum(p["tracebacks"] for p in parts.values()),
                "exit_code": bad_exits[0] if bad_exits else 0, "parts": parts}


def haproxy_binary() -> str:
    """HAProxy from Debian's packages, installed with apt-get when missing (needs root)."""
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists()
                                         else None)
    if binary is not None:
        return binary
    print("installing haproxy with apt-get ...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "haproxy"]
    if subprocess.run(install, env=env, capture_output=True, timeout=300).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300)
        subprocess.run(install, env=env, capture_output=True, timeout=300)
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        raise RuntimeError("haproxy is not installed and apt-get could not install it")
    return binary


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def start_cluster(label: str, database_url: str, redis_url: str, work_dir: Path,
                  log_dir: Path) -> Cluster:
    """Start both nodes (one after the other, each until /ready) and HAProxy (until it sees
    both nodes UP). On any failure, whatever was started is stopped before the error rises."""
    binary = haproxy_binary()
    if not redis_reachable(redis_url):
        raise RuntimeError(f"Redis unreachable at {redis_url}")
    cluster = Cluster(label, redis_url, f"coup-bench-{secrets.token_hex(6)}:")
    try:
        # Every node of a cluster must share the cookie secret (coup/config.py).
        shared = {"COUP_REDIS_URL": redis_url, "COUP_REDIS_PREFIX": cluster.prefix,
                  "COUP_COOKIE_SECRET": secrets.token_urlsafe(32),
                  "COUP_TRUSTED_PROXIES": "127.0.0.1/32"}
        for name in NODE_NAMES:
            cluster.nodes.append(start_coup(
                f"{label}-{name}", database_url, work_dir, log_dir,
                {**shared, "COUP_NODE_ID": f"bench-{label}-{name}"}, ready_path="/ready"))
        cluster.proxy, cluster.stats_port = start_haproxy(
            binary, label, [(name, node.port) for name, node in
                            zip(NODE_NAMES, cluster.nodes, strict=True)], work_dir, log_dir)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def start_haproxy(binary: str, label: str, nodes: list[tuple[str, int]], work_dir: Path,
                  log_dir: Path) -> tuple[Server, int]:
    port, stats_port = free_port(), free_port()
    config = work_dir / f"haproxy-{label}.cfg"
    config.write_text(haproxy_config(port, stats_port, nodes))
    argv = pinned(SERVER_CORE, [binary, "-f", str(config), "-db"])
    proxy = spawn(f"{label}-haproxy", argv, dict(os.environ), port, work_dir, log_dir)
    names = [name for name, _ in nodes]

    def all_up() -> bool:
        sessions = haproxy_sessions(stats_port)
        return all(sessions.get(name, {}).get("up") for name in names)

    wait_until(all_up, proxy, 30)
    return proxy, stats_port


def haproxy_sessions(stats_port: int) -> dict[str, dict[str, int]]:
    """Per node, from HAProxy's stats CSV: `total` sessions sent to it (`stot`; health checks
    are not sessions), `current` ones (`scur`) and `up` (1 while its checks pass)."""
    try:
        url = f"http://127.0.0.1:{stats_port}/stats;csv"
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {row["svname"]: {"total": int(row["stot"] or 0), "current": int(row["scur"] or 0),
                            "up": int(row["status"] == "UP")}
            for row in rows if row["pxname"] == BACKEND and row["svname"] != "BACKEND"}
