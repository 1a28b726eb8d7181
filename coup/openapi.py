"""The OpenAPI 3.1 description of the REST API, built from the route table (COUP.md §7).

`build_openapi(routes)` walks the routes, turns each Tornado pattern into an OpenAPI path
template (`openapi_path`), and documents every method the route's handler defines, taking what
the operation takes and returns from the catalogue (coup/openapi_operations*.py). Methods a
handler does not define are left out, so the document never promises an endpoint that answers
405; tests/test_openapi.py checks the two stay in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import tornado.web

from coup.errors import ERROR_KINDS
from coup.openapi_operations import OWNER, PUBLIC, ST_ADMIN, USER, Op, base_operations
from coup.openapi_operations_work import work_operations
from coup.openapi_schemas import Schema, components, error_envelope, success

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})

# Routes deliberately left out of the document, with the reason (the sync test reads this).
UNDOCUMENTED_ROUTES: dict[str, str] = {
    "/ws": "The WebSocket upgrade: OpenAPI has no WebSocket operations; its contract is "
           "PROTOCOL.md (shared/contract), and an HTTP GET without the upgrade is refused.",
}

# A path parameter is named after the path segment in front of it (`/members/{user_id}`).
PARAM_NAMES: dict[str, str] = {
    "studies": "study_id", "users": "user_id", "sessions": "session_id", "join": "code",
    "chat": "message_id", "join-requests": "user_id", "members": "user_id",
    "notices": "notice_id", "files": "file_id", "calendar": "event_id", "tasks": "task_id",
    "groups": "group_id", "notifications": "notification_id", "avatars": "name",
}

SECURITY_SCHEMES: dict[str, Schema] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": (
        "The session token from login or sign-up (data.token), for mobile apps and bots. "
        "A request with a Bearer header ignores the cookie and needs no XSRF header.")},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "coup_session",
                      "description": "The session cookie set by login, sign-up and OAuth."},
    "xsrfHeader": {"type": "apiKey", "in": "header", "name": "X-XSRFToken", "description": (
        "Cookie-authenticated unsafe requests echo the _xsrf cookie (GET /api/auth/csrf); "
        "a missing or wrong token is CSRF_FAILED (COUP.md §5.2).")},
}

DESCRIPTION = """The CoUp REST API (COUP.md §7).

* Success: `{"success": true, "data": ...}`; paginated lists add `pagination` (§1 items 5, 7, 8).
* Failure: `{"success": false, "error": {code, message, fields?, details?}}` with the HTTP status
  of COUP.md §2. Clients decide by `error.code`.
* Ids are opaque strings of 1-32 characters from `[A-Za-z0-9_-]`; an unknown id is NOT_FOUND.
* Not described here: """ + "; ".join(
    f"`{path}`: {reason}" for path, reason in UNDOCUMENTED_ROUTES.items())


def catalogue() -> dict[tuple[str, str], Op]:
    return {**base_operations(), **work_operations()}


def implemented_methods(handler: type[tornado.web.RequestHandler]) -> list[str]:
    """The HTTP methods a handler class defines (overrides), in HTTP_METHODS order."""
    return [method for method in HTTP_METHODS
            if getattr(handler, method, None) is not getattr(tornado.web.RequestHandler, method)]


def openapi_path(pattern: str) -> tuple[str, list[tuple[str, str]]]:
    """A Tornado route pattern as an OpenAPI template, with each parameter's name and regex.

    `/api/studies/([A-Za-z0-9_-]{1,32})/members` -> `/api/studies/{study_id}/members`. Only
    literal text and capturing groups are allowed outside the groups (an unescaped "." is read
    as the literal it is meant to be), so a template stays a faithful picture of the route.
    """
    template: list[str] = []
    params: list[tuple[str, str]] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "(" and not pattern.startswith("(?", index):
            end = _group_end(pattern, index)
            name = _param_name("".join(template), pattern)
            if name in (existing for existing, _ in params):
                raise ValueError(f"{pattern}: two parameters named {name}")
            params.append((name, pattern[index + 1:end]))
            template.append("{" + name + "}")
            index = end + 1
        elif char == "\\" and index + 1 < len(pattern):
            template.append(pattern[index + 1])
            index += 2
        elif char in "^$" and index in (0, len(pattern) - 1):
            index += 1
        elif char in "*+?[]{}|()":
            raise ValueError(f"{pattern}: only literals and capturing groups can be converted")
        else:
            template.append(char)
            index += 1
    return "".join(template), params


def _group_end(pattern: str, start: int) -> int:
    """The index of the ")" closing the group opened at `start` (classes and escapes skipped)."""
    depth, index, in_class = 0, start, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ValueError(f"{pattern}: unbalanced group")


def _param_name(prefix: str, pattern: str) -> str:
    segment = prefix.rstrip("/").rsplit("/", 1)[-1]
    if segment not in PARAM_NAMES:
        raise ValueError(f"{pattern}: name the parameter after '{segment}' in PARAM_NAMES")
    return PARAM_NAMES[segment]


def build_openapi(routes: Iterable[tuple[str, type[tornado.web.RequestHandler]]]
                  ) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `routes` (coup.app.ROUTES), as plain JSON-ready data."""
    operations = catalogue()
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for pattern, handler in routes:
        template, params = openapi_path(pattern)
        if template in UNDOCUMENTED_ROUTES:
            continue
        tag = handler.__module__.rsplit(".", 1)[-1]
        for method in implemented_methods(handler):
            op = operations.get((template, method))
            if op is None:
                continue  # undocumented: tests/test_openapi.py names it
            paths.setdefault(template, {})[method] = render_operation(
                op, template, method, params, tag)
            tags[tag] = None
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "CoUp REST API", "version": API_VERSION, "description": DESCRIPTION},
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {"schemas": components(), "securitySchemes": SECURITY_SCHEMES},
    }


def render_operation(op: Op, template: str, method: str, params: list[tuple[str, str]],
                     tag: str) -> dict[str, Any]:
    access = op.access + (f" ({op.rule})" if op.rule else "")
    operation: dict[str, Any] = {
        "operationId": method + template.replace("/", "_").replace("-", "_")
        .replace("{", "").replace("}", "").replace(".", "_"),
        "summary": op.summary,
        "description": f"Access: {access} (COUP.md §3.1).",
        "tags": [tag],
        "x-coup-access": op.access,
        "security": security(op.access, method),
    }
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "string", "pattern": f"^(?:{regex})$"}}
                  for name, regex in params]
    parameters.extend(op.query)
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {"required": not op.body_optional, "content": {
            "application/json": {"schema": op.body}}}
    elif op.multipart is not None:
        operation["requestBody"] = {"required": True, "content": {
            "multipart/form-data": {"schema": op.multipart}}}
    operation["responses"] = responses(op, method, bool(params))
    return operation


def security(access: str, method: str) -> list[dict[str, list[str]]]:
    cookie: dict[str, list[str]] = {"sessionCookie": []}
    if method in UNSAFE_METHODS:
        cookie["xsrfHeader"] = []
    schemes: list[dict[str, list[str]]] = [{"bearerAuth": []}, cookie]
    return [{}, *schemes] if access == PUBLIC else schemes


def responses(op: Op, method: str, has_path_params: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in (op.status, *op.also):
        out[str(status)] = success_response(op, status)
    by_status: dict[int, list[str]] = {}
    for code in error_codes(op, method, has_path_params):
        status = ERROR_KINDS[code].http_status
        if str(status) not in out:
            by_status.setdefault(status, []).append(code)
    for status in sorted(by_status):
        codes = sorted(set(by_status[status]))
        out[str(status)] = {"description": ", ".join(codes), "content": {
            "application/json": {"schema": error_envelope(codes)}}}
    return dict(sorted(out.items()))


def success_response(op: Op, status: int) -> dict[str, Any]:
    if op.raw == "json":
        return {"description": "Not enveloped", "content": {
            "application/json": {"schema": op.raw_schema or {"type": "object"}}}}
    if op.raw is not None:
        return {"description": "The bytes themselves, not an envelope", "content": {
            op.raw: {"schema": {"type": "string", "contentMediaType": op.raw}}}}
    data: Schema = op.out if op.out is not None else {"type": "null"}
    description = {200: "OK", 201: "Created"}.get(status, "OK")
    return {"description": description, "content": {
        "application/json": {"schema": success(data, _pagination(op.paged))}}}


def _pagination(paged: str | None) -> str | None:
    return {"offset": "Pagination", "cursor": "CursorPagination", None: None}[paged]


def error_codes(op: Op, method: str, has_path_params: bool) -> list[str]:
    """The codes an operation can answer: its own plus the generic ones of §7's preamble."""
    codes = list(op.errors)
    if op.raw is None or op.raw == "application/octet-stream":
        codes += ["OVERLOADED", "MAINTENANCE"]
    if has_path_params:
        codes.append("NOT_FOUND")
    if op.query or op.body is not None or op.multipart is not None:
        codes.append("VALIDATION_ERROR")
    if op.body is not None or op.multipart is not None:
        codes += ["BAD_REQUEST", "REQUEST_TOO_LARGE"]
    if method in UNSAFE_METHODS:
        codes.append("CSRF_FAILED")
    if op.access != PUBLIC:
        codes += ["UNAUTHORIZED", "ACCOUNT_SUSPENDED", "ACCOUNT_DELETED"]
    if op.access not in (PUBLIC, USER):
        codes += ["NOT_FOUND", "NOT_MEMBER"]
    if op.access in (ST_ADMIN, OWNER):
        codes.append("FORBIDDEN")
    return codes
