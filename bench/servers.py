"""Starting and stopping the servers under test, and running the load generator, as subprocesses.

Servers run on core 0 and the load generator on core 1 (`taskset`), so the load generator never
competes with the server for CPU. Every subprocess gets the hard RLIMIT_NOFILE as its soft limit
(10,000 connections need 10,000 descriptors on each side).
"""

from __future__ import annotations

import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SERVER_CORE = "0"
LOADGEN_CORE = "1"
# `--nice N` (negative needs root): the machine may be shared, and another process on the
# server's or the load generator's core shows up as latency. 0 leaves priorities alone.
NICE = 0


def pinned(core: str, argv: list[str]) -> list[str]:
    if NICE:
        argv = ["nice", "-n", str(NICE), *argv]
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", core, *argv]
    return argv


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    label: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    exit_code: int | None = None
    stop_seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def describe(self) -> str:
        return f"server pid {self.pid} on port {self.port}"

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            started = time.monotonic()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.stop_seconds = round(time.monotonic() - started, 2)
        self.exit_code = self.process.returncode

    def log_summary(self) -> dict[str, Any]:
        """Counts of ERROR/WARNING lines and tracebacks in the server's log, with examples."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        errors = [line for line in text.splitlines() if re.search(r" (ERROR|CRITICAL) ", line)]
        warnings = [line for line in text.splitlines() if " WARNING " in line]
        return {"log": str(self.log_path), "error_lines": len(errors),
                "warning_lines": len(warnings), "tracebacks": text.count("Traceback"),
                "examples": (errors + warnings)[:5], "exit_code": self.exit_code,
                "stop_seconds": self.stop_seconds}


def start_coup(label: str, database_url: str, work_dir: Path, log_dir: Path,
               extra_env: dict[str, str] | None = None, ready_path: str = "/health") -> Server:
    """`coup serve` on a free port, ready when `ready_path` answers 200 (a node of a cluster
    waits for /ready, which also needs its Redis connection)."""
    port = free_port()
    env = {
        **os.environ,
        "COUP_DATABASE_URL": database_url,
        "COUP_HOST": "127.0.0.1",
        "COUP_PORT": str(port),
        "COUP_NODE_ID": f"bench-{label}",
        "COUP_CHAT_RATE": "1000000/1s",
        "COUP_SIGNUP_RATE": "1000000/1s",
        "COUP_LOGIN_IP_RATE": "1000000/1s",
        "COUP_TESTING": "1",
        "COUP_BCRYPT_ROUNDS": "4",
        "COUP_COOKIE_SECRET": secrets.token_urlsafe(32),
        "COUP_DRAIN_DELAY_MS": "0",
        "COUP_WS_MAX_SESSIONS_PER_USER": "1000",
        "COUP_UPLOAD_DIR": str(work_dir / "uploads"),
        **(extra_env or {}),
    }
    argv = pinned(SERVER_CORE, [str(VENV_BIN / "coup"), "serve"])
    server = spawn(label, argv, env, port, work_dir, log_dir)
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}{ready_path}"), server, 60)
    return server


def start_ceiling(label: str, work_dir: Path, log_dir: Path) -> Server:
    port = free_port()
    argv = pinned(SERVER_CORE, [sys.executable, "-m", "bench.ceiling_server", "--port",
                                str(port)])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = spawn(label, argv, env, port, REPO, log_dir)
    wait_until(lambda: _tcp_ok(port), server, 30)
    return server


def spawn(label: str, argv: list[str], env: dict[str, str], port: int, cwd: Path,
          log_dir: Path) -> Server:
    log_path = log_dir / f"{label}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, preexec_fn=_raise_nofile)
    return Server(label, process, port, log_path)


def wait_until(check: Any, server: Server, timeout: float) -> None:
    """Wait for `check()`; a server that never gets there (or an interrupt) is stopped here,
    since the caller never receives it."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.label} exited with {server.process.returncode}; "
                                   f"see {server.log_path}")
            if check():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{server.label} did not become ready in {timeout} s")
    except BaseException:
        server.stop()
        raise


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _tcp_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def run_loadgen(spec: dict[str, Any], work_dir: Path, timeout: float) -> dict[str, Any]:
    """Run bench.loadgen on its own core; its progress goes to our stderr, its result is JSON."""
    spec_path = work_dir / f"spec-{spec['scenario']}-{secrets.token_hex(4)}.json"
    spec_path.write_text(json.dumps(spec))
    argv = pinned(LOADGEN_CORE, [sys.executable, "-m", "bench.loadgen", str(spec_path)])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, preexec_fn=_raise_nofile)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"error": f"load generator timed out after {timeout} s"}
    except BaseException:  # e.g. Ctrl-C: no load generator outlives the run
        process.kill()
        process.wait()
        raise
    finally:
        spec_path.unlink(missing_ok=True)
    lines = out.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"error": f"load generator exited with {process.returncode}"}
    return json.loads(lines[-1])


class Profiler:
    """py-spy attached to a server for a while (only with --profile; not part of the table)."""

    def __init__(self, pid: int, out: Path, seconds: float, delay: float) -> None:
        self.out = out
        py_spy = VENV_BIN / "py-spy"
        self.process: subprocess.Popen[bytes] | None = None
        if not py_spy.exists():
            print(f"  (py-spy not found in {VENV_BIN}; no profile)", file=sys.stderr)
            return
        record = [str(py_spy), "record", "--pid", str(pid), "--duration", str(int(seconds)),
                  "--rate", "100", "--nonblocking", "--gil", "--format", "raw",
                  "--output", str(out)]
        # Start after the connections are set up, so the profile shows the measured load.
        argv = pinned(LOADGEN_CORE, ["sh", "-c", f'sleep {delay} && exec "$@"', "py-spy",
                                     *record])
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)

    def finish(self) -> Path | None:
        if self.process is None:
            return None
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(10)
        return self.out if self.out.exists() else None
