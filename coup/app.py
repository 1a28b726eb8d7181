"""make_app(node): the one route table. Dependencies reach handlers through initialize()."""

from __future__ import annotations

from typing import TYPE_CHECKING

import tornado.web

from coup.handlers import auth, health, media, users
from coup.handlers.base import NotFoundHandler

if TYPE_CHECKING:
    from coup.node import Node

# Ids in paths are opaque 1-32 character strings (COUP.md §1 item 3); anything else is a 404.
ID = r"([A-Za-z0-9_-]{1,32})"

ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/health", health.HealthHandler),
    (r"/ready", health.ReadyHandler),
    (r"/metrics", health.MetricsHandler),
    (r"/api/config", health.ConfigHandler),
    (r"/api/auth/csrf", auth.CsrfHandler),
    (r"/api/auth/signup", auth.SignupHandler),
    (r"/api/auth/login", auth.LoginHandler),
    (r"/api/auth/logout", auth.LogoutHandler),
    (r"/api/auth/me", auth.MeHandler),
    (r"/api/auth/validate-session", auth.ValidateSessionHandler),
    (r"/api/auth/sessions", auth.SessionsHandler),
    (rf"/api/auth/sessions/{ID}", auth.SessionHandler),
    (r"/api/users", users.UserSearchHandler),
    (r"/api/users/me", users.MeProfileHandler),
    (r"/api/users/me/password", users.PasswordHandler),
    (r"/api/users/me/stats", users.MyStatsHandler),
    (r"/api/users/me/avatar", users.AvatarHandler),
    (rf"/api/users/{ID}", users.UserProfileHandler),
    (r"/media/avatars/([A-Za-z0-9_-]{1,32}_[0-9]{1,16}\.(?:jpg|jpeg|png|gif|webp))",
     media.AvatarFileHandler),
]


def make_app(node: Node) -> tornado.web.Application:
    handlers = [
        tornado.web.url(pattern, handler, {"node": node, "route": pattern})
        for pattern, handler in ROUTES
    ]
    return tornado.web.Application(
        handlers,
        default_handler_class=NotFoundHandler,
        default_handler_args={"node": node, "route": "unmatched"},
        cookie_secret=node.settings.cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Lax", "secure": node.settings.secure_cookies},
        log_function=_log_request,
        compress_response=False,
        websocket_max_message_size=node.settings.ws_max_frame_bytes,
    )


def _log_request(handler: tornado.web.RequestHandler) -> None:
    import logging

    status = handler.get_status()
    request = handler.request
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    logging.getLogger("coup.access").log(
        level, "%d %s %s %.1fms", status, request.method, request.path,
        1000.0 * request.request_time(),
    )
