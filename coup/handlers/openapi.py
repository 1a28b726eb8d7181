"""GET /api/openapi.json (PUBLIC): the OpenAPI 3.1 document of the REST API (coup/openapi.py).

The document is served as itself, not inside the success envelope, so that OpenAPI tools can
load it by URL. It depends only on the route table, so it is built once per process.
"""

from __future__ import annotations

import functools

from coup import jsonutil
from coup.handlers.base import ApiHandler
from coup.openapi import build_openapi


@functools.cache
def served_document() -> str:
    # Imported here: coup.app imports this module to build the route table.
    from coup.app import ROUTES

    return jsonutil.dumps(build_openapi(ROUTES))


class OpenApiHandler(ApiHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(served_document())
