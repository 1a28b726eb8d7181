"""make_app(services): the one route table. Dependencies reach handlers through initialize()."""

from __future__ import annotations

import logging
from typing import Any

import tornado.web

from coup.handlers import (
    attendance,
    auth,
    calendar,
    chat,
    dashboard,
    files,
    groups,
    health,
    invites,
    media,
    membership,
    notices,
    notifications,
    openapi,
    personal_tasks,
    reports,
    studies,
    study_tasks,
    users,
    webapp,
    websocket,
)
from coup.handlers.base import NotFoundHandler
from coup.services import Services

# Ids in paths are opaque 1-32 character strings (COUP.md §1 item 3); anything else is a 404.
ID = r"([A-Za-z0-9_-]{1,32})"

Routes = tuple[tuple[str, type[tornado.web.RequestHandler]], ...]

ROUTES: Routes = (
    (r"/ws", websocket.WebSocketHandler),
    (r"/health", health.HealthHandler),
    (r"/ready", health.ReadyHandler),
    (r"/metrics", health.MetricsHandler),
    (r"/api/config", health.ConfigHandler),
    (r"/api/openapi\.json", openapi.OpenApiHandler),
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
    (r"/api/studies/categories", studies.CategoriesHandler),
    (r"/api/studies", studies.StudiesHandler),
    (r"/api/studies/join/([A-Za-z0-9]{1,16})", invites.InvitePreviewHandler),
    (rf"/api/studies/{ID}", studies.StudyHandler),
    (rf"/api/studies/{ID}/invite", invites.InviteHandler),
    (rf"/api/studies/{ID}/invite/regenerate", invites.InviteRegenerateHandler),
    (rf"/api/studies/{ID}/chat", chat.ChatHandler),
    (rf"/api/studies/{ID}/chat/read-cursors", chat.ReadCursorsHandler),
    (rf"/api/studies/{ID}/chat/search", chat.ChatSearchHandler),
    (rf"/api/studies/{ID}/chat/{ID}", chat.ChatMessageHandler),
    (rf"/api/studies/{ID}/chat/{ID}/read", chat.ChatReadHandler),
    (rf"/api/studies/{ID}/join", membership.JoinHandler),
    (rf"/api/studies/{ID}/leave", membership.LeaveHandler),
    (rf"/api/studies/{ID}/join-requests", membership.JoinRequestsHandler),
    (rf"/api/studies/{ID}/join-requests/{ID}/approve", membership.ApproveHandler),
    (rf"/api/studies/{ID}/join-requests/{ID}/reject", membership.RejectHandler),
    (rf"/api/studies/{ID}/members", membership.MembersHandler),
    (rf"/api/studies/{ID}/members/{ID}", membership.MemberHandler),
    (rf"/api/studies/{ID}/members/{ID}/role", membership.MemberRoleHandler),
    (rf"/api/studies/{ID}/transfer-ownership", membership.TransferOwnershipHandler),
    (r"/api/my-studies", membership.MyStudiesHandler),
    (rf"/api/studies/{ID}/notices", notices.NoticesHandler),
    (rf"/api/studies/{ID}/notices/{ID}", notices.NoticeHandler),
    (rf"/api/studies/{ID}/notices/{ID}/pin", notices.NoticePinHandler),
    (rf"/api/studies/{ID}/files", files.FilesHandler),
    (rf"/api/studies/{ID}/files/folders", files.FoldersHandler),
    (rf"/api/studies/{ID}/files/storage", files.StorageHandler),
    (rf"/api/studies/{ID}/files/{ID}", files.FileHandler),
    (rf"/api/studies/{ID}/files/{ID}/download", files.DownloadHandler),
    (rf"/api/studies/{ID}/calendar", calendar.EventsHandler),
    (rf"/api/studies/{ID}/calendar/{ID}", calendar.EventHandler),
    (rf"/api/studies/{ID}/tasks", study_tasks.StudyTasksHandler),
    (rf"/api/studies/{ID}/tasks/{ID}", study_tasks.StudyTaskHandler),
    (rf"/api/studies/{ID}/tasks/{ID}/status", study_tasks.StudyTaskStatusHandler),
    (rf"/api/studies/{ID}/attendance", attendance.StudyAttendanceHandler),
    (rf"/api/studies/{ID}/attendance/stats", attendance.AttendanceStatsHandler),
    (r"/api/attendance/check-in", attendance.CheckInHandler),
    (r"/api/tasks", personal_tasks.TasksHandler),
    (r"/api/tasks/stats", personal_tasks.TaskStatsHandler),
    (rf"/api/tasks/{ID}", personal_tasks.TaskHandler),
    (rf"/api/tasks/{ID}/toggle", personal_tasks.TaskToggleHandler),
    (r"/api/dashboard", dashboard.DashboardHandler),
    (r"/api/dashboard/summary", dashboard.SummaryHandler),
    (r"/api/dashboard/recent-activities", dashboard.RecentActivitiesHandler),
    (r"/api/dashboard/upcoming-schedules", dashboard.UpcomingSchedulesHandler),
    (r"/api/dashboard/statistics", dashboard.StatisticsHandler),
    (r"/api/dashboard/widgets", dashboard.WidgetsHandler),
    (r"/api/groups", groups.GroupsHandler),
    (r"/api/groups/search", groups.GroupSearchHandler),
    (rf"/api/groups/{ID}", groups.GroupHandler),
    (rf"/api/groups/{ID}/join", groups.GroupJoinHandler),
    (rf"/api/groups/{ID}/leave", groups.GroupLeaveHandler),
    (rf"/api/groups/{ID}/members", groups.GroupMembersHandler),
    (rf"/api/groups/{ID}/members/{ID}", groups.GroupMemberHandler),
    (rf"/api/groups/{ID}/invites", groups.GroupInvitesHandler),
    (r"/api/notifications", notifications.NotificationsHandler),
    (r"/api/notifications/count", notifications.NotificationCountHandler),
    (r"/api/notifications/mark-all-read", notifications.MarkAllReadHandler),
    (r"/api/notifications/bulk", notifications.BulkDeleteHandler),
    (rf"/api/notifications/{ID}", notifications.NotificationHandler),
    (rf"/api/notifications/{ID}/read", notifications.NotificationReadHandler),
    (r"/api/reports", reports.ReportsHandler),
    (r"/api/reports/mine", reports.MyReportsHandler),
    (r"/media/avatars/([A-Za-z0-9_-]{1,32}_[0-9]{1,16}\.(?:jpg|jpeg|png|gif|webp))",
     media.AvatarFileHandler),
)


def handler_args(services: Services, pattern: str,
                 handler: type[tornado.web.RequestHandler]) -> dict[str, Any]:
    """What the route table hands a handler's initialize()."""
    args: dict[str, Any] = {"services": services, "route": pattern}
    if handler is openapi.OpenApiHandler:
        args["routes"] = ROUTES
    return args


def make_app(services: Services) -> tornado.web.Application:
    handlers = [
        tornado.web.url(pattern, handler, handler_args(services, pattern, handler))
        # The web app's routes come last (its fallback takes every path the API does not
        # own) and stay out of ROUTES, which is the API's table (OpenAPI, auth matrix).
        for pattern, handler in [*ROUTES, *webapp.ROUTES]
    ]
    settings = services.settings
    return tornado.web.Application(
        handlers,
        default_handler_class=NotFoundHandler,
        default_handler_args={"services": services, "route": "unmatched"},
        cookie_secret=settings.cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Lax", "secure": settings.secure_cookies},
        log_function=_log_request,
        compress_response=False,
        websocket_max_message_size=settings.ws_max_frame_bytes,
        # No websocket_ping_interval: coup/actors/heartbeat.py pings every connection from
        # one loop (PROTOCOL §3) instead of a task per connection.
    )


def _log_request(handler: tornado.web.RequestHandler) -> None:
    status = handler.get_status()
    request = handler.request
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    logging.getLogger("coup.access").log(
        level, "%d %s %s %.1fms", status, request.method, request.path,
        1000.0 * request.request_time(),
    )
