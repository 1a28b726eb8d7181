"""Two real nodes on PostgreSQL + Redis (issue 10, defects 2 and 3 across nodes): the CLI's
revocation closes the sockets on both nodes, and the login lockout counts the attempts of both."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from coup.passwords import hash_password
from tests.cluster_support import Cluster, NodeProcess, login, signup, start_cluster
from tests.test_auth_hardening import GUESSES, PRODUCTION_ROUNDS, login_burst, wrong_guesses
from tests.wsclient import WsClient

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-123"  # what cluster_support.signup uses
# The max_login_attempts setting's default (COUP.md §11).
MAX_LOGIN_ATTEMPTS = 5


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("cluster-revocation"))
    try:
        cluster.add_nodes(["rev-a", "rev-b"])
        yield cluster
    finally:
        cluster.close()


@pytest.fixture()
def nodes(cluster: Cluster) -> tuple[NodeProcess, NodeProcess]:
    a, b = cluster.nodes
    return a, b


def run_cli(cluster: Cluster, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI with the cluster's database and Redis bus, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUP_")}
    node_env = cluster.nodes[0].env
    env.update({key: node_env[key] for key in (
        "COUP_DATABASE_URL", "COUP_REDIS_URL", "COUP_REDIS_PREFIX", "COUP_COOKIE_SECRET",
        "COUP_TESTING", "COUP_BCRYPT_ROUNDS")})
    result = subprocess.run([sys.executable, "-m", "coup", *args], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def set_password_hash(cluster: Cluster, user_id: str, password_hash: str) -> None:
    conn = psycopg2.connect(cluster.db_url, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE users SET password_hash = %s WHERE id = %s",
                        (password_hash, user_id))
    finally:
        conn.close()


def test_cli_revoke_sessions_closes_the_users_sockets_on_every_node_within_a_second(
        cluster: Cluster, nodes: tuple[NodeProcess, NodeProcess], tmp_path: Path) -> None:
    a, b = nodes
    user = signup(a.base_url)
    other_device = login(b.base_url, user["email"])
    bystander = signup(b.base_url)
    with WsClient.open(a, user["token"]) as on_a, WsClient.open(b, user["token"]) as on_b, \
            WsClient.open(b, other_device) as other_on_b, \
            WsClient.open(a, bystander["token"]) as bystander_on_a:
        result = run_cli(cluster, tmp_path, "user", "revoke-sessions", "--email", user["email"])
        revoked_at = time.monotonic()

        assert "revoked 2 sessions" in result.stdout
        for ws in (on_a, on_b, other_on_b):
            assert ws.closed_with(timeout=5) == 1008
            assert time.monotonic() - revoked_at < 1.0
        assert "server_time" in bystander_on_a.ok("ping")


def test_parallel_guesses_spread_over_two_nodes_are_checked_at_most_max_times(
        cluster: Cluster, nodes: tuple[NodeProcess, NodeProcess]) -> None:
    a, b = nodes
    user = signup(a.base_url)
    set_password_hash(cluster, user["id"], hash_password(PASSWORD, PRODUCTION_ROUNDS))

    responses = login_burst([a.base_url, b.base_url], user["email"], wrong_guesses(GUESSES))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * MAX_LOGIN_ATTEMPTS + [429] * (GUESSES - MAX_LOGIN_ATTEMPTS)
    rows = cluster.query("SELECT count(*) FROM login_failures WHERE email = %s", user["email"])
    assert rows == [(MAX_LOGIN_ATTEMPTS,)]
    # Locked on both nodes, even for the right password.
    for node in (a, b):
        right = login_burst([node.base_url], user["email"], [PASSWORD])[0]
        assert right.status_code == 429, right.text
