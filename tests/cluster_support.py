"""Real CoUp node processes for multi-node tests, against the real PostgreSQL and Redis.

Each cluster gets its own PostgreSQL database and its own Redis key prefix, so clusters never
see each other; every process is stopped (and the database dropped) when the cluster closes.
"""

from __future__ import annotations

import os
import secrets
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

from tests.conftest import create_pg_database, drop_pg_database, require_or_skip

REDIS_URL = os.environ.get("COUP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coup", "serve"], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node {self.name} not ready in {timeout}s; see {self.log_path}")

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 35) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(5)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(5)


@dataclass
class Cluster:
    root: Path
    db_name: str
    db_url: str
    prefix: str
    nodes: list[NodeProcess] = field(default_factory=list)

    def add_node(self, name: str, **extra_env: str) -> NodeProcess:
        port = free_port()
        env = {
            **os.environ,
            "COUP_TESTING": "1",
            "COUP_BCRYPT_ROUNDS": "4",
            "COUP_DATABASE_URL": self.db_url,
            "COUP_REDIS_URL": REDIS_URL,
            "COUP_REDIS_PREFIX": self.prefix,
            "COUP_COOKIE_SECRET": "cluster-test-secret-" + self.prefix,
            "COUP_HOST": "127.0.0.1",
            "COUP_PORT": str(port),
            "COUP_NODE_ID": name,
            "COUP_UPLOAD_DIR": str(self.root / "uploads"),
            "COUP_DRAIN_DELAY_MS": "0",
            "COUP_SIGNUP_RATE": "100000/3600s",
            "COUP_LOGIN_IP_RATE": "100000/900s",
            "COUP_ALLOWED_ORIGINS": "http://app.test",
        }
        env.update(extra_env)
        node = NodeProcess(name, port, env, self.root / f"{name}.log")
        node.start()
        self.nodes.append(node)
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        drop_pg_database(self.db_name)
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{self.prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def start_cluster(tmp_path: Path) -> Cluster:
    if not redis_available():
        require_or_skip(f"Redis unreachable at {REDIS_URL}")
    pg = create_pg_database()
    # The first node migrates the empty database; the others find it up to date.
    return Cluster(tmp_path, pg.name, pg.url, f"coup-test-{secrets.token_hex(4)}:")


def signup(base_url: str, name: str = "클러스터") -> dict[str, Any]:
    email = f"node-{secrets.token_hex(6)}@example.com"
    response = httpx.post(f"{base_url}/api/auth/signup", json={
        "email": email, "password": "Secret-pass-123", "name": name}, timeout=30)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    return {"id": data["user"]["id"], "token": data["token"], "email": email}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


__all__ = ["Cluster", "NodeProcess", "bearer", "pytest", "signup", "start_cluster"]
