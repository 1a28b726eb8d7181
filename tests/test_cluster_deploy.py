"""The deployment files in deploy/ are valid and consistent with the code: HAProxy accepts its
configuration, the dashboard only charts metrics that exist, and deploy/local-cluster starts and
stops a real cluster."""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import prometheus_client
import pytest

from coup import metrics  # noqa: F401 (registers every coup_* metric)
from tests.cluster_support import (
    REDIS_URL,
    ensure_haproxy,
    free_port,
    redis_available,
    wait_for,
)
from tests.conftest import create_pg_database, drop_pg_database, require_or_skip

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def coup_metric_names() -> set[str]:
    """Every series name the coup_* metrics expose (with _bucket, _sum, _count, _total)."""
    names: set[str] = set()
    for collector in prometheus_client.REGISTRY.collect():
        for sample in collector.samples:
            if sample.name.startswith("coup_"):
                names.add(sample.name)
        if collector.name.startswith("coup_"):
            base = collector.name
            names.update({base, f"{base}_total", f"{base}_bucket", f"{base}_sum",
                          f"{base}_count"})
    return names


def test_haproxy_accepts_the_deployment_configuration() -> None:
    binary = ensure_haproxy()
    checked = subprocess.run([binary, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    text = (DEPLOY / "haproxy.cfg").read_text()
    for directive in ("balance leastconn", "timeout tunnel", "http-check expect status 200",
                      "uri /ready", "bind 127.0.0.1:8404"):
        assert directive in text
    assert not re.search(r"^\s*(cookie|stick|hash-type)\b", text, re.M), "no stickiness"


def test_the_dashboard_charts_only_metrics_the_nodes_export() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    panels = dashboard["panels"]
    exprs = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bcoup_[a-z_]+", expr)}
    assert used and not used - coup_metric_names(), used - coup_metric_names()
    for wanted in ("coup_ws_connections", "coup_ws_frames_in_total", "coup_ws_frames_out_total",
                   "coup_ws_fanout_deliveries_total", "coup_chat_ack_latency_seconds_bucket",
                   "coup_chat_batch_size_bucket", "coup_mailbox_overflows_total",
                   "coup_ws_outbound_drops_total", "coup_db_call_duration_seconds_bucket",
                   "coup_bus_healthy", "coup_bus_reader_lag_seconds",
                   "coup_bus_publish_duration_seconds_bucket", "coup_bus_dropped_total",
                   "coup_http_requests_total", "coup_http_request_duration_seconds_bucket"):
        assert wanted in used, wanted
    assert len({panel["id"] for panel in panels}) == len(panels)
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)


def test_prometheus_and_compose_files_describe_the_cluster() -> None:
    yaml = pytest.importorskip("yaml")  # PyYAML comes with schemathesis (the test extra)
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["coup"]["metrics_path"] == "/metrics"
    assert "authorization:" in (DEPLOY / "prometheus.yml").read_text()  # the commented option
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "coup1", "coup2", "haproxy"} <= set(services)
    node_ids = set()
    for name in ("coup1", "coup2"):
        env = services[name]["environment"]
        assert env["COUP_REDIS_URL"].startswith("redis://")
        assert env["COUP_DATABASE_URL"].startswith("postgresql://")
        assert "COUP_COOKIE_SECRET" in env
        node_ids.add(env["COUP_NODE_ID"])
        assert services[name]["stop_grace_period"] == "35s"
    assert len(node_ids) == 2
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER coup$", dockerfile, re.M)
    assert 'CMD ["coup", "serve", "--host", "0.0.0.0"]' in dockerfile
    unit = (DEPLOY / "coup.service").read_text()
    for line in ("EnvironmentFile=", "ExecStart=/opt/coup/venv/bin/coup serve",
                 "KillSignal=SIGTERM", "TimeoutStopSec=35", "Restart=on-failure",
                 "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert line in unit


def consecutive_free_ports(count: int) -> int:
    for _ in range(50):
        first = random.randint(20_000, 60_000 - count)
        ports = range(first, first + count)
        if all(_is_free(port) for port in ports):
            return first
    raise RuntimeError("no consecutive free ports")


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture()
def local_cluster_env(tmp_path: Path) -> Iterator[dict[str, Any]]:
    if not redis_available():
        require_or_skip(f"Redis unreachable at {REDIS_URL}")
    ensure_haproxy()
    pg = create_pg_database()
    prefix = f"coup-test-{secrets.token_hex(4)}:"
    base = consecutive_free_ports(2)
    env = {**os.environ, "COUP_CLUSTER_DIR": str(tmp_path / "run"),
           "COUP_DATABASE_URL": pg.url, "COUP_REDIS_URL": REDIS_URL,
           "COUP_REDIS_PREFIX": prefix, "COUP_DRAIN_DELAY_MS": "0"}
    layout = {"env": env, "base": base, "lb": free_port(), "stats": free_port()}
    try:
        yield layout
    finally:
        subprocess.run([str(DEPLOY / "local-cluster"), "stop"], env=env, timeout=60,
                       capture_output=True)
        drop_pg_database(pg.name)
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.mark.slow
def test_local_cluster_script_starts_nodes_behind_haproxy_and_stops_them(
        local_cluster_env: dict[str, Any]) -> None:
    script, env = str(DEPLOY / "local-cluster"), local_cluster_env["env"]
    base, lb = local_cluster_env["base"], local_cluster_env["lb"]
    started = subprocess.run(
        [script, "start", "2", "--base-port", str(base), "--lb-port", str(lb),
         "--stats-port", str(local_cluster_env["stats"])],
        env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    answered = {httpx.get(f"http://127.0.0.1:{lb}/ready", timeout=5).json()["node"]
                for _ in range(6)}
    assert answered == {"local-1", "local-2"}  # least connections spreads the requests
    status = subprocess.run([script, "status"], env=env, capture_output=True, text=True,
                            timeout=30)
    assert status.returncode == 0 and status.stdout.count(" UP") == 2, status.stdout
    pids = [int(p.read_text()) for p in Path(env["COUP_CLUSTER_DIR"]).glob("*.pid")]
    assert len(pids) == 3
    stopped = subprocess.run([script, "stop"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: not any(running(pid) for pid in pids), 10,
             "every process of the local cluster to exit")
    assert subprocess.run([script, "status"], env=env, capture_output=True,
                          timeout=30).returncode == 3
