"""GET /api/openapi.json (PUBLIC): the OpenAPI 3.1 document of the REST API (coup/openapi.py).

The document is served as itself, not inside the success envelope, so that OpenAPI tools can
load it by URL. It depends only on the route table (which coup/app.py hands this handler), so
it is built once per table.
"""

from __future__ import annotations

import functools

import tornado.web

from coup import jsonutil
from coup.handlers.base import ApiHandler
from coup.openapi import build_openapi
from coup.services import Services

Routes = tuple[tuple[str, type[tornado.web.RequestHandler]], ...]


@functools.cache
def served_document(routes: Routes) -> str:
    return jsonutil.dumps(build_openapi(routes))


class OpenApiHandler(ApiHandler):
    def initialize(self, services: Services, route: str, routes: Routes = ()) -> None:
        super().initialize(services, route)
        self.routes = routes

    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(served_document(self.routes))
