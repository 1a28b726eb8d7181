"""The built web app (web/ → coup/web_dist/): hashed assets, top-level files, SPA fallback.

Vite names every file under assets/ after a hash of its content, so those are cached for a year
and marked immutable; index.html names the current hashes, so it is never cached. Every other
path that is not a server path (/api, /ws, /media, /metrics, /health, /ready) answers with
index.html and the client-side router draws the page.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

import tornado.web

from coup.services import Services

log = logging.getLogger(__name__)

WEB_DIST = Path(__file__).resolve().parent.parent / "web_dist"

# The client-side routes: everything outside the server's own path prefixes.
SPA_ROUTE = r"/(?!(?:api|ws|media|metrics|health|ready)(?:/|$))(.*)"
ASSET_ROUTE = r"/assets/(.+)"

ASSET_MAX_AGE_SECONDS = 365 * 24 * 3600
# Top-level files (favicon, robots.txt) keep their names across builds: cache them briefly.
TOP_LEVEL_MAX_AGE_SECONDS = 3600

NOT_BUILT_PAGE = """<!doctype html><html lang="ko"><meta charset="utf-8"><title>CoUp</title>
<h1>웹 앱이 아직 빌드되지 않았습니다</h1>
<p><code>make run</code>으로 실행하세요 (Node.js 20 이상이 필요합니다).</p>
<p lang="en">The web app is not built yet. Start the server with <code>make run</code>
(it needs Node.js 20 or newer), or build it with <code>make web</code>.</p></html>
""".encode()


def content_security_policy(host: str) -> str:
    """No inline scripts or styles; the socket is same-origin (ws: or wss: on this host).

    'self' covers ws:/wss: in CSP level 3, but older Safari releases do not apply it to
    WebSockets, so the socket addresses are named as well.
    """
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Avatars may be an OAuth provider's picture URL (COUP.md §5.5); previews are blob:.
        "img-src 'self' data: blob: https:",
        "media-src 'self' blob:",
        "font-src 'self'",
        f"connect-src 'self' ws://{host} wss://{host}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _security_headers(handler: tornado.web.RequestHandler) -> None:
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("Referrer-Policy", "same-origin")


class AssetHandler(tornado.web.StaticFileHandler):
    """/assets/<hashed name>: a year of caching; a missing name is a plain 404, never HTML."""

    def initialize(self, services: Services, route: str) -> None:  # type: ignore[override]
        super().initialize(path=str(WEB_DIST / "assets"))

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", f"public, max-age={ASSET_MAX_AGE_SECONDS}, immutable")
        _security_headers(self)


class AppHandler(tornado.web.RequestHandler):
    """A top-level file of the build when one has that name, otherwise index.html."""

    def initialize(self, services: Services, route: str) -> None:
        self.services = services
        self.route = route

    async def get(self, path: str) -> None:
        top_level = _top_level_file(path)
        if top_level is not None:
            self._send_file(top_level, f"public, max-age={TOP_LEVEL_MAX_AGE_SECONDS}")
            return
        if _names_a_file(path):
            # No client route has a dot in its last segment (ids and codes never do): a request
            # for `x.pdf` or `x.js` that is not in the build is a missing file, and answering it
            # with the app's HTML would hide the 404 from whoever asked (a stale asset, a probe
            # for the upload folder).
            raise tornado.web.HTTPError(404)
        self._send_index()

    async def head(self, path: str) -> None:
        await self.get(path)

    def _send_index(self) -> None:
        index = WEB_DIST / "index.html"
        _security_headers(self)
        self.set_header("Cache-Control", "no-cache, no-store, must-revalidate")
        self.set_header("Content-Security-Policy", content_security_policy(self.request.host))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        # The page's first unsafe request needs the XSRF cookie (COUP.md §5.2); touching the
        # token sets it now instead of costing the app a round trip to /api/auth/csrf.
        self.xsrf_token  # noqa: B018
        try:
            body = index.read_bytes()
        except FileNotFoundError:
            log.warning("web app not built: %s is missing", index)
            self.set_status(503)
            body = NOT_BUILT_PAGE
        self.finish(body)

    def _send_file(self, file: Path, cache_control: str) -> None:
        _security_headers(self)
        self.set_header("Cache-Control", cache_control)
        content_type, _ = mimetypes.guess_type(file.name)
        self.set_header("Content-Type", content_type or "application/octet-stream")
        self.finish(file.read_bytes())


def _top_level_file(path: str) -> Path | None:
    """A file directly in web_dist/ (no folders, no dot files, not index.html), or None."""
    if not path or "/" in path or path.startswith(".") or path == "index.html":
        return None
    candidate = WEB_DIST / path
    return candidate if candidate.is_file() else None


def _names_a_file(path: str) -> bool:
    return "." in path.rsplit("/", 1)[-1]


# Appended after the API's routes by coup/app.py (the fallback must come last).
ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (ASSET_ROUTE, AssetHandler),
    (SPA_ROUTE, AppHandler),
]
