"""`coup serve` serves the built web app: SPA fallback, cache lifetimes, CSP, XSRF cookie.

These run against the real build in coup/web_dist (`make web`, which `make test` runs first).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from coup.handlers.webapp import WEB_DIST
from tests.conftest import LiveServer, require_or_skip

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)


@pytest.fixture(scope="module")
def built() -> None:
    if not (WEB_DIST / "index.html").is_file():
        require_or_skip("the web app is not built (run `make web`)")


@pytest.fixture()
def http(server: LiveServer, built: None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30, verify=False) as client:
        yield client


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def hashed_asset(index_html: str) -> str:
    match = re.search(r'src="(/assets/[^"]+\.js)"', index_html)
    assert match, index_html
    return match.group(1)


@pytest.mark.parametrize("path", ["/", "/sign-in", "/studies/abc123/chat", "/join/ABCD2345",
                                  "/apiary", "/healthy/x"])
def test_client_routes_answer_with_the_uncached_index_page(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "no-store" in response.headers["Cache-Control"]
    assert '<div id="root"></div>' in response.text
    assert response.text == (WEB_DIST / "index.html").read_text()


def test_index_page_has_no_inline_script_and_a_strict_policy(http: httpx.Client) -> None:
    response = http.get("/")
    for attributes, body in SCRIPT_TAG.findall(response.text):
        assert "src=" in attributes and not body.strip(), "inline script in index.html"
    directives = csp_directives(response)
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives.get("style-src", [])
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    host = httpx.URL(http.base_url).netloc.decode()
    assert f"ws://{host}" in directives["connect-src"]
    assert f"wss://{host}" in directives["connect-src"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_index_page_sets_the_xsrf_cookie_the_api_expects(http: httpx.Client) -> None:
    response = http.get("/sign-up")
    assert "_xsrf" in response.cookies
    # The cookie value works as the X-XSRFToken header for a cookie-holding browser request.
    login = http.post("/api/auth/login", json={"email": "nobody@example.com", "password": "x"},
                      headers={"X-XSRFToken": response.cookies["_xsrf"],
                               "Origin": str(http.base_url).rstrip("/")})
    assert login.json()["error"]["code"] != "CSRF_FAILED"


def test_hashed_assets_are_cached_for_a_year_as_immutable(http: httpx.Client) -> None:
    asset = hashed_asset(http.get("/").text)
    response = http.get(asset)
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    cache = response.headers["Cache-Control"]
    assert "immutable" in cache and "max-age=31536000" in cache


def test_a_missing_asset_is_a_404_not_the_index_page(http: httpx.Client) -> None:
    response = http.get("/assets/index-00000000.js")
    assert response.status_code == 404
    assert '<div id="root">' not in response.text


@pytest.mark.parametrize("path", ["/main.js", "/uploads/studies/s1/f1.pdf", "/studies/s1/notes.md"])
def test_a_path_naming_a_missing_file_is_a_404_not_the_index_page(http: httpx.Client,
                                                                  path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert '<div id="root">' not in response.text


def test_top_level_build_files_are_served_with_their_type(http: httpx.Client) -> None:
    response = http.get("/favicon.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert "immutable" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/does-not-exist", "/api/studies/x/y/z",
                                  "/media/nothing.png", "/ws/extra", "/health/x"])
def test_server_paths_keep_their_json_404(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_server_endpoints_are_not_shadowed_by_the_app(http: httpx.Client) -> None:
    assert http.get("/health").json()["node"]
    assert http.get("/api/config").json()["success"] is True
    assert http.get("/ws").status_code != 200  # no upgrade: refused, never the index page
