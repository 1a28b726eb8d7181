"""Shared by tests/test_openapi.py and tests/test_schemathesis.py: the served document.

`GET /api/openapi.json` belongs in coup/app.py's route table. While it is not there yet, the
`ensure_openapi_route` helper adds it to the running test server only (never to the app
module), in front of the other routes; once the route table has it, this does nothing.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from coup.app import handler_args
from coup.handlers.openapi import OpenApiHandler
from tests.conftest import LiveServer

OPENAPI_URL = "/api/openapi.json"
OPENAPI_PATTERN = r"/api/openapi\.json"


def routed_handlers(app: tornado.web.Application) -> list[type[Any]]:
    """The handler classes of the application's route table."""
    return [rule.target for rule in app.wildcard_router.rules]


async def _add_route(server: LiveServer) -> None:
    app = server.node._http_server.request_callback  # type: ignore[union-attr]
    if OpenApiHandler in routed_handlers(app) or getattr(app, "test_openapi_route", False):
        return
    app.test_openapi_route = True
    app.add_handlers(r".*$", [tornado.web.url(
        OPENAPI_PATTERN, OpenApiHandler,
        handler_args(server.services, OPENAPI_PATTERN, OpenApiHandler))])


def ensure_openapi_route(server: LiveServer) -> None:
    # Run on the server's own loop, where the router is read.
    server.call(_add_route(server))
