"""Real CoUp node processes for multi-node tests, against the real PostgreSQL and Redis.

Each cluster gets its own PostgreSQL database and its own Redis key prefix, so clusters never
see each other; every process is stopped (and the database dropped) when the cluster closes.
A cluster may also run its own redis-server (to kill and restart it without touching the shared
one) and HAProxy in front of its nodes (the deployment's balancing, without stickiness).
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_pg_database, drop_pg_database, in_ci, require_or_skip

REDIS_URL = os.environ.get("COUP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# How often HAProxy probes /ready in tests; two failures mark a node down.
HAPROXY_CHECK_INTER_MS = 300

log = logging.getLogger(__name__)


def redis_available(url: str = REDIS_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `condition()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _terminate(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Signal a process group we started and reap it; SIGKILL if it outlives `timeout`."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def _spawn(argv: list[str], log_path: Path, env: dict[str, str] | None = None
           ) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


# --- CoUp nodes -----------------------------------------------------------------------------


@dataclass
class NodeProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart, on the same port) and wait until /ready answers 200."""
        self.process = _spawn([sys.executable, "-m", "coup", "serve"], self.log_path, self.env)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited; see {self.log_path}")
            if self.ready_status() == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"node {self.name} not ready in {timeout}s; see {self.log_path}")

    def ready_status(self) -> int | None:
        """The status of GET /ready, or None when the node does not answer."""
        try:
            return httpx.get(f"{self.base_url}/ready", timeout=1).status_code
        except httpx.HTTPError:
            return None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.process is not None
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 35) -> None:
        """SIGTERM (graceful drain), then SIGKILL after `timeout`."""
        _terminate(self.process, signal.SIGTERM, timeout)

    def kill(self) -> None:
        _terminate(self.process, signal.SIGKILL, 5)

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)


# --- a private redis-server -----------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server of our own on a free port, without persistence: a restart loses its data,
    like a Redis that was replaced."""

    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_or_skip("redis-server is not installed")
        assert binary is not None
        self.process = _spawn([binary, "--port", str(self.port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--daemonize", "no"],
                              self.log_path)
        wait_for(lambda: redis_available(self.url), timeout, f"redis-server on {self.port}")

    def kill(self) -> None:
        _terminate(self.process, signal.SIGKILL, 5)


# --- HAProxy ----------------------------------------------------------------------------------


def ensure_haproxy() -> str:
    """The haproxy binary; under CI=true it is installed from Debian's packages if missing."""
    binary = shutil.which("haproxy")
    if binary is not None:
        return binary
    if not in_ci():
        pytest.skip("haproxy is not installed (CI=true installs it with apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "haproxy"]
    if subprocess.run(install, env=env, capture_output=True, timeout=300).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=300)
        subprocess.run(install, env=env, capture_output=True, timeout=300, check=True)
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        pytest.fail("apt-get could not install haproxy")
    return binary


def haproxy_config(port: int, stats_port: int, servers: list[tuple[str, int]],
                   check_inter_ms: int = HAPROXY_CHECK_INTER_MS) -> str:
    """The test twin of deploy/haproxy.cfg: least connections, no stickiness, /ready checks,
    long WebSocket tunnels; each node is also a check-less backup so that a cluster-wide
    readiness failure (a Redis outage) does not take the whole service down."""
    lines = [
        "global",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    log stdout format raw local0",
        "    option httplog",
        "    option forwardfor",
        "    option redispatch 1",
        "    retries 3",
        "    timeout connect 1s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout tunnel 1h",
        "    timeout client-fin 5s",
        "    timeout http-request 10s",
        "frontend coup",
        f"    bind 127.0.0.1:{port}",
        "    default_backend coup_nodes",
        "backend coup_nodes",
        "    balance leastconn",
        "    option allbackups",
        "    option httpchk",
        "    http-check send meth GET uri /ready ver HTTP/1.1 hdr Host coup",
        "    http-check expect status 200",
        f"    default-server inter {check_inter_ms}ms fastinter {check_inter_ms}ms "
        "downinter 1s fall 2 rise 1",
    ]
    lines += [f"    server {name} 127.0.0.1:{node_port} check" for name, node_port in servers]
    lines += [f"    server {name}-fallback 127.0.0.1:{node_port} backup"
              for name, node_port in servers]
    lines += [
        "listen stats",
        f"    bind 127.0.0.1:{stats_port}",
        "    stats enable",
        "    stats uri /stats",
        "    http-request use-service prometheus-exporter if { path /metrics }",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class HAProxy:
    port: int
    stats_port: int
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, servers: list[tuple[str, int]]) -> None:
        binary = ensure_haproxy()
        self.config_path.write_text(haproxy_config(self.port, self.stats_port, servers))
        checked = subprocess.run([binary, "-c", "-q", "-f", str(self.config_path)],
                                 capture_output=True, timeout=30)
        assert checked.returncode == 0, checked.stderr.decode() + checked.stdout.decode()
        self.process = _spawn([binary, "-f", str(self.config_path), "-db"], self.log_path)
        names = [name for name, _ in servers]
        wait_for(lambda: all(self.server_status(n) == "UP" for n in names), 15,
                 "HAProxy to see every node UP")

    def server_statuses(self) -> dict[str, str]:
        """Server name -> HAProxy's status (UP, DOWN, ...), from the stats page's CSV."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"haproxy is not running; see {self.log_path}")
        try:
            text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2).text
        except httpx.HTTPError:
            return {}
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "coup_nodes"}

    def server_status(self, name: str) -> str | None:
        return self.server_statuses().get(name)

    def stop(self) -> None:
        _terminate(self.process, signal.SIGTERM, 5)


# --- a cluster --------------------------------------------------------------------------------


@dataclass
class Cluster:
    root: Path
    db_name: str
    db_url: str
    prefix: str
    nodes: list[NodeProcess] = field(default_factory=list)
    redis_url: str = REDIS_URL
    redis: RedisServer | None = None
    proxies: list[HAProxy] = field(default_factory=list)

    def add_node(self, name: str, **extra_env: str) -> NodeProcess:
        port = free_port()
        env = {**self._node_env(name, port), **extra_env}
        node = NodeProcess(name, port, env, self.root / f"{name}.log")
        self.nodes.append(node)  # registered first, so close() reaps it even if start fails
        node.start()
        return node

    def _node_env(self, name: str, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "COUP_TESTING": "1",
            "COUP_BCRYPT_ROUNDS": "4",
            "COUP_DATABASE_URL": self.db_url,
            "COUP_REDIS_URL": self.redis_url,
            "COUP_REDIS_PREFIX": self.prefix,
            "COUP_COOKIE_SECRET": "cluster-test-secret-" + self.prefix,
            "COUP_HOST": "127.0.0.1",
            "COUP_PORT": str(port),
            "COUP_NODE_ID": name,
            "COUP_UPLOAD_DIR": str(self.root / "uploads"),
            "COUP_DRAIN_DELAY_MS": "0",
            "COUP_DB_POOL_SIZE": "4",
            "COUP_SIGNUP_RATE": "100000/3600s",
            "COUP_LOGIN_IP_RATE": "100000/900s",
            "COUP_ALLOWED_ORIGINS": "http://app.test",
            "COUP_TRUSTED_PROXIES": "127.0.0.1/32",
        }

    def add_nodes(self, names: list[str], **extra_env: str) -> list[NodeProcess]:
        """Several nodes: the first alone (it migrates the database), the rest in parallel."""
        nodes = [self.add_node(names[0], **extra_env)]
        for name in names[1:]:
            port = free_port()
            env = {**self._node_env(name, port), **extra_env}
            node = NodeProcess(name, port, env, self.root / f"{name}.log")
            self.nodes.append(node)
            node.process = _spawn([sys.executable, "-m", "coup", "serve"], node.log_path, env)
            nodes.append(node)
        for node in nodes[1:]:
            node.wait_ready()
        return nodes

    def node(self, name: str) -> NodeProcess:
        return next(node for node in self.nodes if node.name == name)

    def add_haproxy(self) -> HAProxy:
        """HAProxy in front of every node added so far."""
        index = len(self.proxies)
        proxy = HAProxy(free_port(), free_port(), self.root / f"haproxy-{index}.cfg",
                        self.root / f"haproxy-{index}.log")
        self.proxies.append(proxy)
        proxy.start([(node.name, node.port) for node in self.nodes])
        return proxy

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from the cluster's PostgreSQL database, read directly (not through a node)."""
        import psycopg2

        conn = psycopg2.connect(self.db_url, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def commit_unpublished_events(self, study_id: str, count: int) -> int:
        """Durable events written straight into PostgreSQL, as by a node that died between its
        commit and its publish: no room anywhere is told. Returns the new head seq."""
        import psycopg2
        from psycopg2.extras import Json

        conn = psycopg2.connect(self.db_url, connect_timeout=5)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("UPDATE studies SET last_seq = last_seq + %s WHERE id = %s "
                            "RETURNING last_seq", (count, study_id))
                head = cur.fetchone()[0]
                for seq in range(head - count + 1, head + 1):
                    cur.execute(
                        "INSERT INTO study_events (study_id, seq, type, payload) "
                        "VALUES (%s, %s, %s, %s)",
                        (study_id, seq, "notice:deleted",
                         Json({"study_id": study_id, "seq": seq, "notice_id": f"gone{seq}"})))
            return head
        finally:
            conn.close()

    def close(self) -> None:
        """Stop everything this cluster started; each step runs even if an earlier one fails."""
        steps: list[Any] = [proxy.stop for proxy in self.proxies]
        steps += [node.kill for node in self.nodes]
        steps.append(lambda: drop_pg_database(self.db_name))
        steps.append(self.redis.kill if self.redis is not None else self._delete_redis_keys)
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("cluster cleanup step failed")

    def _delete_redis_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
        keys = list(client.scan_iter(f"{self.prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def start_cluster(tmp_path: Path, *, own_redis: bool = False) -> Cluster:
    """A cluster with its own database and key prefix. With `own_redis`, it also runs a
    redis-server of its own (see RedisServer) instead of using the shared one."""
    redis_server = None
    if own_redis:
        redis_server = RedisServer(free_port(), tmp_path / "redis.log")
        redis_server.start()
    elif not redis_available():
        require_or_skip(f"Redis unreachable at {REDIS_URL}")
    try:
        pg = create_pg_database()
    except BaseException:
        if redis_server is not None:
            redis_server.kill()
        raise
    # The first node migrates the empty database; the others find it up to date.
    cluster = Cluster(tmp_path, pg.name, pg.url, f"coup-test-{secrets.token_hex(4)}:")
    if redis_server is not None:
        cluster.redis, cluster.redis_url = redis_server, redis_server.url
    return cluster


# --- REST helpers -----------------------------------------------------------------------------


def signup(base_url: str, name: str = "클러스터") -> dict[str, Any]:
    email = f"node-{secrets.token_hex(6)}@example.com"
    response = httpx.post(f"{base_url}/api/auth/signup", json={
        "email": email, "password": "Secret-pass-123", "name": name}, timeout=30)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    return {"id": data["user"]["id"], "token": data["token"], "email": email}


def login(base_url: str, email: str) -> str:
    """A second login session (another device) of a user; its bearer token."""
    response = httpx.post(f"{base_url}/api/auth/login", json={
        "email": email, "password": "Secret-pass-123"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["data"]["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_study(base_url: str, owner: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"name": f"클러스터 {secrets.token_hex(4)}", "emoji": "📚",
            "description": "노드 사이 테스트 스터디입니다.", "category": "개발",
            "max_members": 50}
    body.update(fields)
    response = httpx.post(f"{base_url}/api/studies", headers=bearer(owner["token"]), json=body,
                          timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def join_study(base_url: str, user: dict[str, Any], study_id: str) -> None:
    """Join an auto-approving study (ACTIVE at once)."""
    response = httpx.post(f"{base_url}/api/studies/{study_id}/join",
                          headers=bearer(user["token"]), json={}, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["auto_approved"] is True, response.text


def study_with_members(base_urls: list[str], count: int
                       ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A study and `count` ACTIVE users (the owner first), their REST calls spread over the
    given nodes."""
    users = [signup(base_urls[i % len(base_urls)], f"회원{i}") for i in range(count)]
    study = create_study(base_urls[0], users[0])
    for index, user in enumerate(users[1:], start=1):
        join_study(base_urls[index % len(base_urls)], user, study["id"])
    return study, users


__all__ = ["Cluster", "HAProxy", "NodeProcess", "RedisServer", "bearer", "create_study",
           "ensure_haproxy", "join_study", "login", "pytest", "signup", "start_cluster",
           "study_with_members", "wait_for"]
