"""What each REST operation takes and returns (COUP.md §7), for the OpenAPI document.

One `Op` per (path template, method). The catalogue covers every endpoint of the route table,
implemented or not: `coup.openapi.build_openapi` documents only the methods a handler defines,
so an endpoint appears in the document the day its handler does. This module holds the
accounts, studies, membership, notification, report and operational endpoints;
`coup.openapi_operations_work` holds the in-study work areas, groups and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coup.openapi_schemas import (
    ANY_OBJECT,
    BOOL,
    CATEGORY_VALUES,
    ID,
    INT,
    NSTR,
    NTS,
    STR,
    SUB_CATEGORY_VALUES,
    TS,
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

# Access levels of COUP.md §3.1; each implies the generic errors coup.openapi adds.
PUBLIC, USER, MEMBER, ST_ADMIN, OWNER = "PUBLIC", "USER", "MEMBER", "ST_ADMIN", "OWNER"


@dataclass(frozen=True)
class Op:
    """One operation. `out` is the success `data` (None: `data: null`); `paged` is "offset" or
    "cursor"; `raw` names a media type answered without the envelope (probes, downloads)."""

    summary: str
    access: str
    out: Schema | None = None
    status: int = 200
    query: tuple[Schema, ...] = ()
    body: Schema | None = None
    body_optional: bool = False
    multipart: Schema | None = None
    paged: str | None = None
    errors: tuple[str, ...] = ()
    rule: str | None = None
    raw: str | None = None
    raw_schema: Schema | None = None
    also: tuple[int, ...] = ()


def param(name: str, schema: Schema, description: str | None = None, *,
          required: bool = False) -> Schema:
    """A query parameter."""
    out: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


def paging(default_limit: int) -> tuple[Schema, ...]:
    """Offset pagination (COUP.md §1 item 7)."""
    return (param("page", integer(1, 1_000_000, default=1)),
            param("limit", integer(1, 100, default=default_limit)))


def route(path: str, **methods: Op) -> dict[tuple[str, str], Op]:
    return {(path, method): op for method, op in methods.items()}


def optional_body(**fields: Schema) -> Schema:
    """An optional JSON body; every field optional and nullable (null means "not given")."""
    return strict({name: nullable(schema) for name, schema in fields.items()})


EMPTY_BODY = strict({})
NAME = text(2, 50, pattern=r"^[\uAC00-\uD7A3\u1100-\u11FF\u3130-\u318FA-Za-z0-9 ._-]+$",
            description="Hangul, Latin letters, digits, space, '-', '_', '.' (COUP.md §7.2)")
PASSWORD = text(8, 128, description="COUP.md §5.4")
EMAIL = text(3, 255, fmt="email")
HTTPS_URL = text(max_len=500, pattern=r"^https://\S+$")
REASON = text(max_len=200)
SESSION = record(id=STR, created_at=TS, last_seen_at=TS, expires_at=TS, ip=NSTR,
                 user_agent=NSTR, current=BOOL)
ADMIN_ROLE = nullable(record(role=choice(enums.ADMIN_ROLE_TYPE), expires_at=NTS))
LOGIN_OUT = record(user=ref("Me"), token=STR, expires_at=TS, is_admin=BOOL,
                   admin_role=ADMIN_ROLE, restrictions=ref("Restrictions"))

# --- §7.1 auth and §7.19 operational --------------------------------------------------------

ACCOUNT_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/health", get=Op(
        "Node health: 200, or 503 when the database is unreachable", PUBLIC, raw="json",
        raw_schema=record(status=choice(("ok", "degraded")), node=STR, db=BOOL,
                          redis=nullable(BOOL)), also=(503,))),
    **route("/ready", get=Op(
        "Readiness for traffic: 200, or 503 while draining or without a database", PUBLIC,
        raw="json", raw_schema={"type": "object"}, also=(503,))),
    **route("/metrics", get=Op(
        "Prometheus metrics (COUP_METRICS_ALLOW addresses or the COUP_METRICS_TOKEN bearer)",
        PUBLIC, raw="text/plain", errors=("FORBIDDEN",))),
    **route("/api/config", get=Op("Public client configuration", PUBLIC, out=record(
        site_name=STR, site_description=STR, contact_email=STR, allow_signup=BOOL,
        allow_study_creation=BOOL, allow_file_upload=BOOL, max_file_size_mb=INT,
        max_study_members=INT, maintenance_mode=BOOL,
        oauth_providers=array(choice(("google", "github"))), study_quota_bytes=INT,
        chat_rate=record(messages=INT, window_seconds={"type": "number"}), time_zone=STR,
        language=STR))),
    **route("/api/openapi.json", get=Op(
        "This document (OpenAPI 3.1, not enveloped)", PUBLIC, raw="json",
        raw_schema={"type": "object"})),
    **route("/api/auth/csrf", get=Op("Get the XSRF token (also set as the _xsrf cookie)",
                                     PUBLIC, out=record(xsrf_token=STR))),
    **route("/api/auth/signup", post=Op(
        "Sign up with email and password; logged in at once", PUBLIC, status=201,
        body=strict({"email": EMAIL, "password": PASSWORD, "password_confirm": PASSWORD,
                     "name": NAME}, required=("email", "password", "name")),
        out=record(user=ref("Me"), token=STR, expires_at=TS),
        errors=("WEAK_PASSWORD", "PASSWORD_MISMATCH", "EMAIL_TAKEN", "SIGNUP_DISABLED",
                "RATE_LIMITED"))),
    **route("/api/auth/login", post=Op(
        "Log in (cookie and body token)", PUBLIC,
        body=strict({"email": EMAIL, "password": text(1, 128)}, required=("email", "password")),
        out=LOGIN_OUT, errors=("INVALID_CREDENTIALS", "ACCOUNT_SUSPENDED", "RATE_LIMITED"))),
    **route("/api/auth/logout", post=Op("Log out (revokes the current session)", PUBLIC,
                                        body=EMPTY_BODY, body_optional=True)),
    **route("/api/auth/me", get=Op("Who am I", USER, out=record(
        user=ref("Me"), is_admin=BOOL, admin_role=nullable(ANY_OBJECT),
        restrictions=ref("Restrictions"), session=record(id=STR, expires_at=TS)))),
    **route("/api/auth/validate-session", get=Op("Is my session valid", PUBLIC, out=record(
        valid=BOOL, user=nullable(ANY_OBJECT), reason=NSTR, should_logout=BOOL))),
    **route("/api/auth/sessions", get=Op("List my live sessions", USER, out=array(SESSION))),
    **route("/api/auth/sessions/{session_id}", delete=Op("Revoke one of my sessions", USER)),
}

# --- §7.2 users and profile -----------------------------------------------------------------

PROFILE_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/users", get=Op(
        "Search users by name or exact email (emails never returned)", USER,
        query=(param("q", text(max_len=50)), *paging(20)), paged="offset",
        out=array(extend("UserProfile", study_count=INT)))),
    **route("/api/users/me", get=Op("My profile, stats and restrictions", USER, out=record(
        user=ref("Me"), stats=record(study_count=INT, task_count=INT, unread_notifications=INT),
        restrictions=ref("Restrictions"))),
        patch=Op("Edit my profile", USER, out=ref("Me"), body=strict(
            {"name": NAME, "bio": nullable(text(max_len=200)), "avatar": nullable(HTTPS_URL)},
            min_properties=1)),
        delete=Op("Delete my account (soft delete and anonymise)", USER, body=strict(
            {"confirmation": text(max_len=255), "password": nullable(text(max_len=128))},
            required=("confirmation",)),
            errors=("CONFIRMATION_MISMATCH", "WRONG_PASSWORD", "OWNS_STUDIES"))),
    **route("/api/users/me/password", patch=Op(
        "Change or first set my password; other sessions are revoked", USER, body=strict(
            {"current_password": nullable(text(max_len=128)), "new_password": PASSWORD,
             "confirm_password": nullable(text(max_len=128))}, required=("new_password",)),
        errors=("WRONG_PASSWORD", "WEAK_PASSWORD", "PASSWORD_MISMATCH", "SAME_PASSWORD"))),
    **route("/api/users/me/stats", get=Op("My activity statistics", USER, out=record(
        this_week=record(completed_tasks=INT, created_notices=INT, uploaded_files=INT,
                         chat_messages=INT),
        total=record(study_count=INT, managing_studies=INT, completed_tasks=INT,
                     attendance_rate=integer(0, 100), best_current_streak=INT,
                     joined_days=INT)))),
    **route("/api/users/me/avatar",
            post=Op("Upload an avatar image (1 KB-5 MB jpg, png, gif or webp)", USER,
                    out=ref("Me"), multipart=strict(
                        {"file": {"type": "string", "contentMediaType": "image/*"}},
                        required=("file",)),
                    errors=("FILE_TOO_LARGE", "FILE_TYPE_NOT_ALLOWED", "FILE_REJECTED")),
            delete=Op("Remove my avatar", USER, out=ref("Me"))),
    **route("/api/users/{user_id}", get=Op("A user's public profile", USER, out=extend(
        "UserProfile",
        stats=record(study_count=INT, task_count=INT, message_count=INT, notice_count=INT),
        recent_studies=array(record(study_id=STR, study_name=STR, study_emoji=STR,
                                    category=STR, role=choice(enums.MEMBER_ROLE),
                                    joined_at=NTS))))),
    **route("/media/avatars/{name}", get=Op(
        "An uploaded avatar image (public, immutable)", PUBLIC, raw="image/*")),
}

# --- §7.3 studies, §7.4 invites ---------------------------------------------------------------

# The old explore chip labels, accepted as category filters (COUP.md §7.3).
CATEGORY_ALIASES = ("프로그래밍", "어학", "자격증", "취미", "독서")
_STUDY_FIELDS: dict[str, Schema] = {
    "name": text(2, 50),
    "emoji": text(1, 16),
    "description": text(10, 500),
    "category": choice(CATEGORY_VALUES),
    "sub_category": nullable(choice(SUB_CATEGORY_VALUES)),
    "tags": array(text(1, 20), max_items=10),
    "max_members": {**integer(2), "description": "2 to the max_study_members setting [20]"},
    "is_public": boolean(True),
    "auto_approve": boolean(True),
    "is_recruiting": boolean(True),
}
_CREATE_OPTIONAL = ("sub_category", "tags", "max_members", "is_public", "auto_approve",
                    "is_recruiting")
STUDY_CREATE = strict({name: nullable(schema) if name in _CREATE_OPTIONAL else schema
                       for name, schema in _STUDY_FIELDS.items()},
                      required=("name", "emoji", "description", "category"))
STUDY_UPDATE = strict(dict(_STUDY_FIELDS), min_properties=1)
INVITE_BODY = optional_body(expires_in_hours=integer(1, 720, default=168),
                            max_uses=integer(1, 100, default=10))
STUDY_DETAIL = extend("Study", members=array(ref("Member"), max_items=100),
                      pending_requests=nullable(integer(0)))

STUDY_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/studies/categories", get=Op(
        "Study categories and sub-categories", PUBLIC, out=array(record(
            value=STR, label_en=STR, sub_categories=array(record(value=STR, label_en=STR)))))),
    **route("/api/studies",
            get=Op("Explore public studies", PUBLIC, paged="offset", out=array(
                ref("StudySummary")), query=(
                param("category", choice(["전체", *CATEGORY_VALUES, *CATEGORY_ALIASES]),
                      "A category, 전체 (all), or an old chip label (COUP.md §7.3)"),
                param("sub_category", choice(SUB_CATEGORY_VALUES)),
                param("search", text(max_len=50)),
                param("recruiting", choice(("all", "recruiting", "closed"), "all")),
                param("sort", choice(("latest", "popular"), "latest")),
                param("exclude_mine", boolean(False)), *paging(20))),
            post=Op("Create a study", USER, status=201, body=STUDY_CREATE, out=ref("Study"),
                    errors=("FEATURE_DISABLED", "RESTRICTED"))),
    **route("/api/studies/{study_id}",
            get=Op("A study's detail (public, member, or with a valid invite code)", PUBLIC,
                   out=STUDY_DETAIL, query=(param("invite_code", text(max_len=16)),),
                   errors=("NOT_FOUND",)),
            patch=Op("Edit study settings", OWNER, body=STUDY_UPDATE, out=ref("Study"),
                     errors=("STUDY_CLOSED",)),
            delete=Op("Delete the study (soft delete; also while CLOSED)", OWNER)),
    **route("/api/studies/{study_id}/invite",
            post=Op("Create (replace) the invite code", ST_ADMIN, status=201, body=INVITE_BODY,
                    body_optional=True, out=ref("Invite"), errors=("STUDY_FULL", "STUDY_CLOSED")),
            get=Op("The current invite code, or null", ST_ADMIN, out=nullable(ref("Invite"))),
            delete=Op("Revoke the invite code", ST_ADMIN)),
    **route("/api/studies/{study_id}/invite/regenerate", post=Op(
        "Issue a new invite code", ST_ADMIN, status=201, body=INVITE_BODY, body_optional=True,
        out=ref("Invite"), errors=("STUDY_FULL", "STUDY_CLOSED"))),
    **route("/api/studies/join/{code}", get=Op(
        "Preview a study from an invite code", PUBLIC,
        out=record(study=ref("StudySummary"),
                   invite=record(expires_at=TS, available_slots=INT)),
        errors=("INVITE_NOT_FOUND", "INVITE_EXPIRED", "INVITE_EXHAUSTED", "RATE_LIMITED"))),
}

# --- §7.5 membership, §7.6 my studies ---------------------------------------------------------

_MY_STUDY = record(membership_id=STR, role=choice(enums.MEMBER_ROLE),
                   status=choice(enums.MEMBER_STATUS), applied_at=NTS, joined_at=NTS,
                   approved_at=NTS, study=extend(
                       "StudySummary", is_hidden=BOOL, new_messages=nullable(INT),
                       new_notices=nullable(INT), unread_messages=nullable(INT),
                       last_seq=INT))

MEMBERSHIP_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/studies/{study_id}/join", post=Op(
        "Apply to or join a study (with an optional invite code)", USER, status=201,
        body=optional_body(introduction=text(max_len=300),
                           motivation=choice(enums.JOIN_MOTIVATION),
                           level=choice(enums.SKILL_LEVEL), invite_code=text(max_len=16)),
        body_optional=True,
        out=record(member=ref("Member"), auto_approved=BOOL, via_invite=BOOL),
        errors=("INVITE_NOT_FOUND", "INVITE_EXPIRED", "INVITE_EXHAUSTED", "RESTRICTED",
                "STUDY_CLOSED", "ALREADY_MEMBER", "KICKED_MEMBER", "APPLICATION_EXISTS",
                "STUDY_FULL", "NOT_RECRUITING", "NOT_FOUND"))),
    **route("/api/studies/{study_id}/leave", post=Op(
        "Leave the study, or withdraw a pending application", USER,
        rule="an ACTIVE or PENDING row, else NOT_MEMBER", body=EMPTY_BODY, body_optional=True,
        out=record(status=choice(("LEFT", "WITHDRAWN"))),
        errors=("NOT_MEMBER", "NOT_FOUND", "OWNER_CANNOT_LEAVE"))),
    **route("/api/studies/{study_id}/join-requests", get=Op(
        "Pending applications, with applicant emails", ST_ADMIN, paged="offset",
        query=paging(20), out=array(ref("JoinRequest")))),
    **route("/api/studies/{study_id}/join-requests/{user_id}/approve", post=Op(
        "Approve an application", ST_ADMIN, body=EMPTY_BODY, body_optional=True,
        out=ref("Member"), errors=("STUDY_FULL", "STUDY_CLOSED"))),
    **route("/api/studies/{study_id}/join-requests/{user_id}/reject", post=Op(
        "Reject an application", ST_ADMIN, body=optional_body(reason=REASON),
        body_optional=True)),
    **route("/api/studies/{study_id}/members",
            get=Op("List members (statuses other than ACTIVE: ST-ADMIN only)", MEMBER,
                   paged="offset", out=array(ref("Member")), query=(
                       param("role", choice(enums.MEMBER_ROLE)),
                       param("status", choice(enums.MEMBER_STATUS, "ACTIVE")), *paging(50))),
            post=Op("Add a member directly (as ADMIN: OWNER only)", ST_ADMIN, status=201,
                    body=strict({"user_id": ID,
                                 "role": nullable(choice(("ADMIN", "MEMBER"), "MEMBER"))},
                                required=("user_id",)),
                    out=ref("Member"),
                    errors=("ROLE_HIERARCHY", "ALREADY_MEMBER", "KICKED_MEMBER", "RESTRICTED",
                            "STUDY_FULL", "STUDY_CLOSED"))),
    **route("/api/studies/{study_id}/members/{user_id}", delete=Op(
        "Kick a member (an ADMIN: OWNER only)", ST_ADMIN, body=optional_body(reason=REASON),
        body_optional=True, errors=("CANNOT_KICK_SELF", "CANNOT_KICK_OWNER", "ROLE_HIERARCHY"))),
    **route("/api/studies/{study_id}/members/{user_id}/role", patch=Op(
        "Change a member's role (MEMBER <-> ADMIN)", OWNER,
        body=strict({"role": choice(("ADMIN", "MEMBER"))}, required=("role",)),
        out=ref("Member"), errors=("OWNER_ROLE_LOCKED",))),
    **route("/api/studies/{study_id}/transfer-ownership", post=Op(
        "Transfer ownership to an ACTIVE ADMIN", OWNER,
        body=strict({"target_user_id": ID}, required=("target_user_id",)),
        out=record(new_owner=ref("Member"), old_owner=ref("Member")),
        errors=("INVALID_TRANSFER_TARGET",))),
    **route("/api/my-studies", get=Op(
        "My studies with counters", USER, paged="offset", out=array(_MY_STUDY), query=(
            param("filter", choice(("all", "active", "admin", "pending"), "all")),
            *paging(50)))),
}

# --- §7.14 notifications, §7.17 reports -------------------------------------------------------

_UNREAD = record(unread=integer(0))
_RECIPIENT = "the recipient only; anyone else gets NOT_FOUND"

NOTIFICATION_OPERATIONS: dict[tuple[str, str], Op] = {
    **route("/api/notifications", get=Op(
        "My notifications, newest first", USER, paged="offset",
        out=array(ref("Notification")), query=(
            param("is_read", boolean()),
            param("type", choice(enums.NOTIFICATION_TYPE), "Case-insensitive"),
            param("study_id", text(1, 32, pattern=r"^[A-Za-z0-9_-]{1,32}$")), *paging(20)))),
    **route("/api/notifications/count", get=Op("My unread count", USER, out=_UNREAD)),
    **route("/api/notifications/mark-all-read",
            post=Op("Mark all read", USER, body=EMPTY_BODY, body_optional=True,
                    out=record(count=integer(0), unread=integer(0))),
            patch=Op("Mark all read (synonym of POST)", USER, body=EMPTY_BODY,
                     body_optional=True, out=record(count=integer(0), unread=integer(0)))),
    **route("/api/notifications/bulk", delete=Op(
        "Delete many of my notifications", USER,
        body=strict({"ids": array(ID, min_items=1, max_items=100, unique=True)},
                    required=("ids",)),
        out=record(deleted=integer(0), not_found=array(STR), unread=integer(0)))),
    **route("/api/notifications/{notification_id}",
            get=Op("One notification", USER, rule=_RECIPIENT, out=ref("Notification")),
            delete=Op("Delete a notification", USER, rule=_RECIPIENT, out=_UNREAD)),
    **route("/api/notifications/{notification_id}/read",
            post=Op("Mark one read", USER, rule=_RECIPIENT, body=EMPTY_BODY,
                    body_optional=True, out=_UNREAD),
            patch=Op("Mark one read (synonym of POST)", USER, rule=_RECIPIENT,
                     body=EMPTY_BODY, body_optional=True, out=_UNREAD)),
    **route("/api/reports", post=Op(
        "Report a user, study or message", USER, status=201, out=ref("Report"),
        body=strict({"target_type": choice(enums.TARGET_TYPE), "target_id": ID,
                     "type": choice(enums.REPORT_TYPE), "reason": text(10, 1000),
                     "evidence": nullable({"type": "object", "description": "≤ 10 KB"})},
                    required=("target_type", "target_id", "type", "reason")),
        errors=("CANNOT_REPORT_SELF", "REPORT_EXISTS", "RATE_LIMITED"))),
    **route("/api/reports/mine", get=Op(
        "My reports and their outcome", USER, paged="offset", query=paging(20),
        out=array(extend("Report", processed_at=NTS)))),
}


def base_operations() -> dict[tuple[str, str], Any]:
    return {**ACCOUNT_OPERATIONS, **PROFILE_OPERATIONS, **STUDY_OPERATIONS,
            **MEMBERSHIP_OPERATIONS, **NOTIFICATION_OPERATIONS}
