"""The OpenAPI catalogue, part two: chat, notices, files, calendar, tasks, attendance (COUP.md
§7.7-§7.13), the dashboard (§7.15) and groups (§7.16). See coup/openapi_operations.py."""

from __future__ import annotations

from typing import Any

from coup.openapi_operations import (
    EMPTY_BODY,
    HTTPS_URL,
    MEMBER,
    ST_ADMIN,
    USER,
    Op,
    optional_body,
    paging,
    param,
    route,
)
from coup.openapi_schemas import (
    BOOL,
    DATE,
    HHMM,
    ID,
    INT,
    NSTR,
    NTS,
    STR,
    STUDY_REF,
    TS,
    WIDGET_INPUT,
    Schema,
    array,
    boolean,
    choice,
    extend,
    integer,
    nullable,
    record,
    ref,
    strict,
    text,
)
from coup.store import enums

DATE_PARAM = text(fmt="date")
MONTH = text(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
COLOR = text(pattern=r"^#[0-9A-Fa-f]{6}$")
CLIENT_ID = text(8, 64, pattern=r"^[A-Za-z0-9-]+$")
_AUTHOR_OR_ADMIN = "the author, or ST-ADMIN"
_CREATOR_OR_ADMIN = "the creator, or ST-ADMIN"
_TASK_EDITORS = "the creator, an assignee, or ST-ADMIN"

# --- §7.7 chat --------------------------------------------------------------------------------

CHAT_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/studies/{study_id}/chat",
            get=Op("Chat history by seq cursor, ascending", MEMBER, paged="cursor",
                   out=array(ref("Message")), query=(
                       param("before_seq", integer(0)), param("after_seq", integer(0)),
                       param("limit", integer(1, 100, default=50)))),
            post=Op("Send a message (idempotent by client_id: a replay answers 200)", MEMBER,
                    status=201, also=(200,), out=ref("Message"), body=strict({
                        "content": nullable(text(max_len=2000)),
                        "client_id": nullable(CLIENT_ID), "file_id": nullable(ID)}),
                    errors=("STUDY_CLOSED", "RESTRICTED", "RATE_LIMITED"))),
    **route("/api/studies/{study_id}/chat/read-cursors", get=Op(
        "Read cursors of the ACTIVE members", MEMBER,
        out=array(record(user_id=STR, last_read_seq=integer(0))))),
    **route("/api/studies/{study_id}/chat/search", get=Op(
        "Search messages", MEMBER, paged="offset", out=array(ref("Message")), query=(
            param("q", text(max_len=100)), param("start_date", DATE_PARAM),
            param("end_date", DATE_PARAM), param("user_id", text(max_len=32)), *paging(20)))),
    **route("/api/studies/{study_id}/chat/{message_id}",
            patch=Op("Edit my message", MEMBER, rule="the author only, else FORBIDDEN",
                     body=strict({"content": text(max_len=2000)}, required=("content",)),
                     out=ref("Message"), errors=("STUDY_CLOSED", "RESTRICTED")),
            delete=Op("Delete a message", MEMBER, rule=_AUTHOR_OR_ADMIN)),
    **route("/api/studies/{study_id}/chat/{message_id}/read", post=Op(
        "Move my read cursor up to this message", MEMBER, body=EMPTY_BODY, body_optional=True,
        out=record(last_read_seq=integer(0), unread_messages=integer(0)))),
}

# --- §7.8 notices, §7.9 files -----------------------------------------------------------------

_NOTICE_FIELDS: dict[str, Schema] = {
    "title": text(2, 100), "content": text(1, 10000), "is_pinned": boolean(False),
    "is_important": boolean(False),
    "attachment_file_ids": array(ID, max_items=5, unique=True),
}
_FILE_PART = {"type": "string", "contentMediaType": "application/octet-stream"}

WORK_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/studies/{study_id}/notices",
            get=Op("Notices, pinned first (content truncated)", MEMBER, paged="offset",
                   out=array(extend("Notice", content_truncated=BOOL)), query=(
                       param("pinned", boolean()), param("important", boolean()),
                       *paging(10))),
            post=Op("Create a notice", ST_ADMIN, status=201, out=ref("Notice"),
                    body=strict(_NOTICE_FIELDS, required=("title", "content")),
                    errors=("PIN_LIMIT", "STUDY_CLOSED"))),
    **route("/api/studies/{study_id}/notices/{notice_id}",
            get=Op("Open a notice (counts a first view)", MEMBER, out=ref("Notice")),
            patch=Op("Edit a notice", MEMBER, rule=_AUTHOR_OR_ADMIN, out=ref("Notice"),
                     body=strict(_NOTICE_FIELDS, min_properties=1),
                     errors=("PIN_LIMIT", "STUDY_CLOSED")),
            delete=Op("Delete a notice", MEMBER, rule=_AUTHOR_OR_ADMIN)),
    **route("/api/studies/{study_id}/notices/{notice_id}/pin", post=Op(
        "Toggle the pin", ST_ADMIN, body=EMPTY_BODY, body_optional=True, out=ref("Notice"),
        errors=("PIN_LIMIT", "STUDY_CLOSED"))),
    **route("/api/studies/{study_id}/files",
            get=Op("Browse files", MEMBER, paged="offset", out=array(ref("File")), query=(
                param("folder", text(max_len=100), "Absent: the root; '*': every folder"),
                param("category", choice(enums.FILE_CATEGORY)),
                param("q", text(max_len=255)), *paging(20))),
            post=Op("Upload a file", MEMBER, status=201, multipart=strict(
                {"file": _FILE_PART, "folder": text(max_len=100),
                 "category": choice(enums.FILE_CATEGORY)}, required=("file",)),
                    out=extend("File", storage=record(used_bytes=INT, quota_bytes=INT,
                                                      usage_percent={"type": "number"})),
                    errors=("FEATURE_DISABLED", "STUDY_CLOSED", "FILE_TYPE_NOT_ALLOWED",
                            "FILE_TOO_LARGE", "FILE_REJECTED", "QUOTA_EXCEEDED",
                            "RATE_LIMITED"))),
    **route("/api/studies/{study_id}/files/folders", get=Op(
        "Folders with counts", MEMBER,
        out=array(record(folder=NSTR, file_count=INT, total_size=INT)))),
    **route("/api/studies/{study_id}/files/storage", get=Op(
        "Storage use", MEMBER, out=record(used_bytes=INT, quota_bytes=INT,
                                          usage_percent={"type": "number"},
                                          file_count=INT))),
    **route("/api/studies/{study_id}/files/{file_id}", delete=Op(
        "Delete a file (also in a CLOSED study)", MEMBER, rule="the uploader, or ST-ADMIN")),
    **route("/api/studies/{study_id}/files/{file_id}/download", get=Op(
        "Download the bytes (Range supported)", MEMBER, raw="application/octet-stream",
        also=(206,), query=(param("inline", boolean(False),
                                  "IMAGE (not SVG), VIDEO and AUDIO only"),),
        errors=("FILE_GONE",))),
}

# --- §7.10 calendar, §7.11 study tasks, §7.13 attendance --------------------------------------

_EVENT_FIELDS: dict[str, Schema] = {
    "title": text(2, 100), "description": nullable(text(max_len=1000)), "date": DATE,
    "start_time": HHMM, "end_time": HHMM, "location": nullable(text(max_len=200)),
    "color": COLOR,
}
_EVENT_OUT = extend("Event", overlaps=array(record(id=STR, title=STR)), warning=NSTR)
_TASK_FIELDS: dict[str, Schema] = {
    "title": text(2, 100), "description": nullable(text(max_len=1000)),
    "status": choice(enums.TASK_STATUS, "TODO"), "priority": choice(enums.PRIORITY, "MEDIUM"),
    "due_date": nullable(DATE), "assignee_ids": array(ID, max_items=20, unique=True),
}

SCHEDULE_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/studies/{study_id}/calendar",
            get=Op("Events by date range or month", MEMBER, out=array(ref("Event")), query=(
                param("start_date", DATE_PARAM), param("end_date", DATE_PARAM),
                param("month", MONTH))),
            post=Op("Create an event", ST_ADMIN, status=201, out=_EVENT_OUT,
                    body=strict(_EVENT_FIELDS,
                                required=("title", "date", "start_time", "end_time")),
                    errors=("STUDY_CLOSED",))),
    **route("/api/studies/{study_id}/calendar/{event_id}",
            get=Op("One event", MEMBER, out=ref("Event")),
            patch=Op("Edit an event", MEMBER, rule=_CREATOR_OR_ADMIN, out=_EVENT_OUT,
                     body=strict(_EVENT_FIELDS, min_properties=1), errors=("STUDY_CLOSED",)),
            delete=Op("Delete an event", MEMBER, rule=_CREATOR_OR_ADMIN)),
    **route("/api/studies/{study_id}/tasks",
            get=Op("The kanban board", MEMBER, paged="offset", out=array(ref("StudyTask")),
                   query=(param("status", choice((*enums.TASK_STATUS, "all"), "all")),
                          param("assignee", text(max_len=32), "A user id or 'me'"),
                          param("priority", choice(enums.PRIORITY)), *paging(20))),
            post=Op("Create a study task", ST_ADMIN, status=201, out=ref("StudyTask"),
                    body=strict(_TASK_FIELDS, required=("title",)),
                    errors=("STUDY_CLOSED",))),
    **route("/api/studies/{study_id}/tasks/{task_id}",
            get=Op("One study task", MEMBER, out=ref("StudyTask")),
            patch=Op("Edit a study task", MEMBER, rule=_TASK_EDITORS, out=ref("StudyTask"),
                     body=strict(_TASK_FIELDS, min_properties=1),
                     errors=("INVALID_TRANSITION", "STUDY_CLOSED")),
            delete=Op("Delete a study task", MEMBER, rule=_CREATOR_OR_ADMIN)),
    **route("/api/studies/{study_id}/tasks/{task_id}/status", patch=Op(
        "Move a study task", MEMBER, rule=_TASK_EDITORS, out=ref("StudyTask"),
        body=strict({"status": choice(enums.TASK_STATUS)}, required=("status",)),
        errors=("INVALID_TRANSITION", "STUDY_CLOSED"))),
    **route("/api/studies/{study_id}/attendance", get=Op(
        "Who checked in on a day", MEMBER, query=(param("date", DATE_PARAM),), out=record(
            date=DATE, checked_in=array(record(user=ref("UserSummary"), checked_in_at=TS,
                                               streak=INT)),
            checked_in_count=INT, member_count=INT,
            me=record(checked_in_today=BOOL, current_streak=INT, longest_streak=INT,
                      total_days=INT)))),
    **route("/api/studies/{study_id}/attendance/stats", get=Op(
        "Attendance rates and streaks", MEMBER,
        query=(param("start_date", DATE_PARAM), param("end_date", DATE_PARAM)),
        out=array(record(user=ref("UserSummary"), days_attended=INT, eligible_days=INT,
                         attendance_rate=integer(0, 100), current_streak=INT,
                         longest_streak=INT)))),
    **route("/api/attendance/check-in", post=Op(
        "Check in today (one study, or all of mine)", USER,
        body=optional_body(study_id=ID), body_optional=True, errors=("STUDY_CLOSED",),
        out=record(date=DATE, results=array(record(
            study_id=STR, study_name=STR, study_emoji=STR, checked_in_at=TS, streak=INT,
            already_checked_in=BOOL)), attended_studies=INT, total_studies=INT,
            already_attended=INT))),
}

# --- §7.12 personal tasks, §7.15 dashboard ----------------------------------------------------

_PERSONAL_FIELDS: dict[str, Schema] = {
    "title": text(1, 100), "description": nullable(text(max_len=1000)),
    "study_id": nullable(ID), "status": choice(enums.TASK_STATUS, "TODO"),
    "priority": choice(enums.PRIORITY, "MEDIUM"), "due_date": nullable(DATE),
}
_COUNTS = {"type": "object", "additionalProperties": INT}

PERSONAL_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/tasks",
            get=Op("My personal tasks", USER, paged="offset", out=array(ref("PersonalTask")),
                   query=(param("study_id", text(max_len=32)),
                          param("status", choice((*enums.TASK_STATUS, "all", "incomplete",
                                                  "completed"), "all")),
                          param("completed", boolean()),
                          param("sort_by", choice(("deadline", "priority", "created_at"),
                                                  "deadline")), *paging(20))),
            post=Op("Create a personal task", USER, status=201, out=ref("PersonalTask"),
                    body=strict(_PERSONAL_FIELDS, required=("title",)),
                    errors=("NOT_MEMBER",))),
    **route("/api/tasks/stats", get=Op("My task statistics", USER, out=record(
        summary=record(total=INT, completed=INT, pending=INT, completion_rate=INT),
        timeline=record(today=INT, this_week=INT, this_month=INT, overdue=INT),
        by_priority=_COUNTS, by_status=_COUNTS,
        recent_completed=array(record(id=STR, title=STR, completed_at=NTS, priority=STR))))),
    **route("/api/tasks/{task_id}",
            get=Op("One of my tasks", USER, out=ref("PersonalTask")),
            patch=Op("Edit one of my tasks", USER, out=ref("PersonalTask"), body=strict(
                {**_PERSONAL_FIELDS, "completed": BOOL}, min_properties=1),
                     errors=("NOT_MEMBER",)),
            put=Op("Replace one of my tasks (status unchanged)", USER, out=ref("PersonalTask"),
                   body=strict({k: v for k, v in _PERSONAL_FIELDS.items() if k != "status"},
                               required=("title",)), errors=("NOT_MEMBER",)),
            delete=Op("Delete one of my tasks", USER)),
    **route("/api/tasks/{task_id}/toggle", patch=Op(
        "Flip completion", USER, body=EMPTY_BODY, body_optional=True,
        out=ref("PersonalTask"))),
    **route("/api/dashboard", get=Op("Dashboard home", USER, out=record(
        stats=nullable({"type": "object"}), my_studies=nullable(array({"type": "object"})),
        recent_activities=nullable(array(ref("Notification"))),
        upcoming_events=nullable(array({"type": "object"})),
        attendance=nullable({"type": "object"}),
        failed_sections=array(STR)))),
    **route("/api/dashboard/summary", get=Op("Dashboard summary", USER, out=record(
        studies=record(active=INT, total=INT),
        tasks=record(pending=INT, completed=INT, total=INT, completion_rate=INT),
        notifications=record(unread=INT)))),
    **route("/api/dashboard/recent-activities", get=Op(
        "The notification stream", USER, paged="offset",
        query=(param("types", text(max_len=300), "Comma-separated NotificationType values"),
               *paging(20)),
        out=array(record(id=STR, type=choice(enums.NOTIFICATION_TYPE), message=STR,
                         study=nullable(STUDY_REF), is_read=BOOL, created_at=TS)))),
    **route("/api/dashboard/upcoming-schedules", get=Op(
        "Upcoming events of my studies", USER,
        query=(param("days", integer(1, 30, default=7)),
               param("limit", integer(1, 100, default=20))),
        out=record(events=array(extend("Event", study=STUDY_REF)), count=INT,
                   period=record(**{"from": TS, "to": TS})))),
    **route("/api/dashboard/statistics", get=Op(
        "Statistics by type and period", USER, out={"type": "object"}, query=(
            param("type", choice(("STUDY", "TASK", "NOTIFICATION", "ACTIVITY", "OVERVIEW"),
                                 "OVERVIEW")),
            param("period", choice(("TODAY", "THIS_WEEK", "THIS_MONTH", "THIS_YEAR", "CUSTOM"),
                                   "THIS_MONTH")),
            param("start_date", DATE_PARAM), param("end_date", DATE_PARAM),
            param("aggregation", choice(("DAY", "WEEK", "MONTH", "YEAR"), "DAY"))))),
    **route("/api/dashboard/widgets",
            get=Op("My widget layout", USER,
                   out=record(widgets=array(ref("Widget")), is_default=BOOL)),
            patch=Op("Change or reset my widget layout", USER,
                     out=record(widgets=array(ref("Widget")), is_default=BOOL),
                     body={"oneOf": [
                         strict({"widgets": array(WIDGET_INPUT, min_items=1, max_items=11)},
                                required=("widgets",)),
                         strict({"reset": {"const": True}}, required=("reset",))]})),
}

# --- §7.16 groups -----------------------------------------------------------------------------

_GROUP_FIELDS: dict[str, Schema] = {
    "name": text(2, 50, pattern=r"^[^<>{}\[\]\\/]+$"),
    "description": nullable(text(max_len=1000)),
    "category": choice(enums.GROUP_CATEGORY, "ETC"), "image_url": nullable(HTTPS_URL),
    "tags": array(text(1, 20), max_items=10), "is_public": boolean(True),
    "is_recruiting": boolean(True), "max_members": integer(2, 200, default=50),
}
_GROUP_ADMIN = "group ADMIN+ (ACTIVE ADMIN or OWNER of the group)"
_GROUP_VISIBLE = "visible groups only (a private group: its ACTIVE members)"
_GROUP_ERRORS = ("ALREADY_MEMBER", "KICKED_MEMBER", "GROUP_FULL")

GROUP_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/groups",
            get=Op("Browse groups", USER, paged="offset", out=array(ref("Group")), query=(
                param("category", choice(enums.GROUP_CATEGORY)), param("is_public", boolean()),
                param("is_recruiting", boolean()), param("search", text(max_len=50)),
                param("sort", choice(("latest", "popular"), "latest")),
                param("mine", boolean()), *paging(20))),
            post=Op("Create a group", USER, status=201, out=ref("Group"),
                    body=strict(_GROUP_FIELDS, required=("name",)),
                    errors=("GROUP_NAME_TAKEN",))),
    **route("/api/groups/search", get=Op(
        "Search groups", USER, paged="offset", out=array(ref("Group")), query=(
            param("q", text(1, 50), required=True), param("category", choice(
                enums.GROUP_CATEGORY)), param("min_members", integer(0, 2**31 - 1)),
            param("max_members", integer(0, 2**31 - 1)), *paging(20)))),
    **route("/api/groups/{group_id}",
            get=Op("A group with a members preview", USER, rule=_GROUP_VISIBLE,
                   out=extend("Group", members_preview=array(ref("GroupMember"),
                                                             max_items=10))),
            patch=Op("Edit a group", USER, rule=_GROUP_ADMIN, out=ref("Group"),
                     body=strict(_GROUP_FIELDS, min_properties=1),
                     errors=("FORBIDDEN", "GROUP_NAME_TAKEN")),
            delete=Op("Delete a group", USER, rule="the group OWNER",
                      errors=("FORBIDDEN", "GROUP_NOT_EMPTY"))),
    **route("/api/groups/{group_id}/join", post=Op(
        "Join a group", USER, status=201, out=ref("GroupMember"),
        body=optional_body(invite_code=text(max_len=12)), body_optional=True,
        errors=("INVITE_NOT_FOUND", "INVITE_EXPIRED", "NOT_RECRUITING", *_GROUP_ERRORS))),
    **route("/api/groups/{group_id}/leave", post=Op(
        "Leave a group", USER, rule="an ACTIVE group member", body=EMPTY_BODY,
        body_optional=True, errors=("NOT_MEMBER", "OWNER_CANNOT_LEAVE"))),
    **route("/api/groups/{group_id}/members",
            get=Op("Group members", USER, rule=_GROUP_VISIBLE, paged="offset",
                   out=array(ref("GroupMember")),
                   query=(param("status", choice(enums.GROUP_MEMBER_STATUS, "ACTIVE")),
                          *paging(50)), errors=("FORBIDDEN",)),
            post=Op("Add a group member", USER, rule=_GROUP_ADMIN, status=201,
                    out=ref("GroupMember"), body=strict(
                        {"user_id": ID, "role": choice(("MEMBER", "ADMIN"), "MEMBER")},
                        required=("user_id",)),
                    errors=("FORBIDDEN", "ROLE_HIERARCHY", *_GROUP_ERRORS)),
            delete=Op("Remove or kick a group member", USER, rule=_GROUP_ADMIN, query=(
                param("user_id", text(1, 32), required=True), param("kick", boolean(False))),
                      errors=("FORBIDDEN", "CANNOT_KICK_SELF", "CANNOT_KICK_OWNER",
                              "ROLE_HIERARCHY"))),
    **route("/api/groups/{group_id}/members/{user_id}", patch=Op(
        "Change a group member's role", USER, rule="the group OWNER", out=ref("GroupMember"),
        body=strict({"role": choice(("ADMIN", "MEMBER"))}, required=("role",)),
        errors=("FORBIDDEN", "OWNER_ROLE_LOCKED"))),
    **route("/api/groups/{group_id}/invites",
            get=Op("Group invites", USER, rule=_GROUP_ADMIN, paged="offset",
                   out=array(ref("GroupInvite")),
                   query=(param("status", choice(enums.GROUP_INVITE_STATUS)), *paging(20)),
                   errors=("FORBIDDEN",)),
            post=Op("Create a group invite", USER, rule=_GROUP_ADMIN, status=201,
                    out=ref("GroupInvite"), body=optional_body(
                        user_id=ID, email=text(3, 255, fmt="email"),
                        expires_in_days=integer(1, 30, default=7)), body_optional=True,
                    errors=("FORBIDDEN", *_GROUP_ERRORS)),
            delete=Op("Cancel a group invite", USER, rule="the inviter, or group ADMIN+",
                      query=(param("invite_id", text(1, 32), required=True),),
                      errors=("FORBIDDEN", "CONFLICT"))),
}


def work_operations() -> dict[tuple[str, str], Any]:
    return {**CHAT_OPERATIONS, **WORK_OPERATIONS, **SCHEDULE_OPERATIONS,
            **PERSONAL_OPERATIONS, **GROUP_OPERATIONS}

