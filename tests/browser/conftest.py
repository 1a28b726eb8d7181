"""Browser tests: Debian's Chromium driven by Playwright against a real `coup serve`.

Playwright (the Python package) drives the system browser through its executable path, so no
browser is ever downloaded. The server is a subprocess on a free 127.0.0.1 port with SQLite,
serving the built web app (coup/web_dist, built by `make web`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from coup.handlers.webapp import WEB_DIST
from tests.conftest import require_or_skip

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("COUP_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SERVER_START_SECONDS = 30
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
PASSWORD = "Secret-pass-123"


@dataclass
class WebServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving_coup(root: Path, node_id: str, **extra_env: str) -> Iterator[WebServer]:
    """`coup serve` on a free 127.0.0.1 port with its own SQLite database under `root`, serving
    the built web app; stopped on exit. `extra_env` adds or overrides COUP_* settings."""
    if not (WEB_DIST / "index.html").is_file():
        require_or_skip("the web app is not built (run `make web`)")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "COUP_TESTING": "1",
        "COUP_BCRYPT_ROUNDS": "4",
        "COUP_DATABASE_URL": f"sqlite:///{root / 'coup.db'}",
        "COUP_UPLOAD_DIR": str(root / "uploads"),
        "COUP_HOST": "127.0.0.1",
        "COUP_PORT": str(port),
        "COUP_NODE_ID": node_id,
        "COUP_COOKIE_SECRET": secrets.token_urlsafe(32),
        "COUP_APP_URL": base_url,
        "COUP_PUBLIC_API_URL": base_url,
        "COUP_ALLOWED_ORIGINS": base_url,
        "COUP_JOBS": "false",
        "COUP_DRAIN_DELAY_MS": "0",
        "COUP_SIGNUP_RATE": "100000/3600s",
        "COUP_LOGIN_IP_RATE": "100000/900s",
        **extra_env,
    }
    env.pop("COUP_REDIS_URL", None)
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "coup", "serve"], env=env, cwd=REPO_ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(base_url, process, log_path)
        yield WebServer(base_url, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    # The scenario sends a burst while a user is offline; the chat limit has its own tests.
    with serving_coup(tmp_path_factory.mktemp("coup-web"), "browser-test",
                      COUP_CHAT_RATE="1000/10s") as server:
        yield server


def wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"coup serve exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"coup serve did not become ready:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """One Playwright per worker: the sync API runs an event loop for as long as it is open,
    and a second sync_playwright() in the same process refuses to start inside it."""
    if not CHROMIUM.is_file():
        require_or_skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_or_skip("the playwright package is missing (pip install -e '.[test]')")
    with sync_playwright() as driver:
        yield driver


def launch_chromium(playwright: Any, *extra_args: str) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM),
                                      args=[*CHROMIUM_ARGS, *extra_args])


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    browser = launch_chromium(playwright)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture()
def new_context(browser: Any, web_server: WebServer) -> Iterator[Any]:
    """One browser context per person; closed after the test."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = browser.new_context(base_url=web_server.base_url, viewport=viewport,
                                      locale="ko-KR", timezone_id="Asia/Seoul", **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def unique_email(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


def sign_up_through_api(context: Any, name: str) -> dict[str, Any]:
    """A quick sign-up for tests that are not about the sign-up page (shares the cookies)."""
    email = unique_email("user")
    response = context.request.post("/api/auth/signup", data={
        "email": email, "password": PASSWORD, "name": name})
    assert response.status == 201, response.text()
    return {"email": email, **response.json()["data"]["user"]}


def api_post(context: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    token = context.request.get("/api/auth/csrf").json()["data"]["xsrf_token"]
    response = context.request.post(path, data=body, headers={"X-XSRFToken": token})
    assert response.ok, response.text()
    return response.json()["data"]


def has_no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def capture_fitting_page(page: Any, picture: Path, what: str, *, signed_in: bool,
                         full_page: bool = False) -> None:
    """A page drawn in full (live when signed in, network idle) must not scroll sideways;
    then its picture is taken. The screenshot tests of every page share this step."""
    from playwright.sync_api import expect

    if signed_in:
        expect(page.get_by_test_id("connection-state")).to_have_attribute(
            "data-state", "connected")
    page.wait_for_load_state("networkidle")
    assert has_no_horizontal_scroll(page), f"{what} scrolls sideways"
    page.screenshot(path=str(picture), full_page=full_page)
