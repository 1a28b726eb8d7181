"""Serving uploaded avatars (COUP.md §7.2, §7.19); coup/avatars.py says where they live.

Only `{COUP_UPLOAD_DIR}/avatars/` is served, and only names the route's pattern admits; study
files are never served statically. A name embeds its upload time, so a new avatar gets a new
URL and the old one can be cached for a year.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from coup import metrics
from coup.avatars import avatar_dir
from coup.handlers.base import as_api_error, error_envelope
from coup.services import Services

# One year: a file's name never points at different bytes.
AVATAR_CACHE_SECONDS = 365 * 24 * 3600
AVATAR_CONTENT_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp",
}


class AvatarFileHandler(tornado.web.StaticFileHandler):
    """GET /media/avatars/{name}: public, immutable, 404 in the JSON envelope."""

    def initialize(self, services: Services, route: str) -> None:  # type: ignore[override]
        self.services = services
        self.route = route
        super().initialize(path=str(avatar_dir(services.settings)))

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        return AVATAR_CACHE_SECONDS

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", f"public, max-age={AVATAR_CACHE_SECONDS}, immutable")
        self.set_header("X-Content-Type-Options", "nosniff")

    def get_content_type(self) -> str:
        # get() sets absolute_path before it asks for the type (Tornado's own version asserts
        # the same).
        assert self.absolute_path is not None
        extension = self.absolute_path.rsplit(".", 1)[-1].lower()
        return AVATAR_CONTENT_TYPES.get(extension, "application/octet-stream")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = as_api_error(status_code, kwargs.get("exc_info"))
        self.clear()
        self.set_status(error.http_status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(error_envelope(error, self.services.settings.language))

    def on_finish(self) -> None:
        method = self.request.method or "GET"
        metrics.HTTP_REQUESTS.labels(self.route, method, str(self.get_status())).inc()
        metrics.HTTP_REQUEST_SECONDS.labels(self.route, method).observe(
            self.request.request_time())
