"""JSON Schema pieces of the OpenAPI document (coup/openapi.py): helpers, envelopes, §6 objects.

Request bodies are strict (`additionalProperties: false`, COUP.md §1 item 9); response objects
list the fields COUP.md §6 promises (all always present, §6) but stay open to additions, so a
new field never makes an old client's schema wrong.
"""

from __future__ import annotations

from typing import Any

from coup.store import enums
from coup.store.studies import CATEGORIES

Schema = dict[str, Any]

ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


# --- helpers ----------------------------------------------------------------------------------


def nullable(schema: Schema) -> Schema:
    """The same schema, also allowing null (an optional field sent as null means "clear")."""
    if "$ref" in schema or "allOf" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema.get("type")
    if not isinstance(kind, str):
        return schema  # already nullable (or a combination that says so itself)
    out = {**schema, "type": [kind, "null"]}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def text(min_len: int | None = None, max_len: int | None = None, *,
         pattern: str | None = None, fmt: str | None = None,
         description: str | None = None) -> Schema:
    """A string; lengths count code points after cleaning (NFC, trim; COUP.md §1 item 9)."""
    schema: Schema = {"type": "string"}
    if min_len is not None:
        schema["minLength"] = min_len
    if max_len is not None:
        schema["maxLength"] = max_len
    if pattern is not None:
        schema["pattern"] = pattern
    if fmt is not None:
        schema["format"] = fmt
    if description is not None:
        schema["description"] = description
    return schema


def integer(low: int | None = None, high: int | None = None, *,
            default: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    if default is not None:
        schema["default"] = default
    return schema


def boolean(default: bool | None = None) -> Schema:
    schema: Schema = {"type": "boolean"}
    if default is not None:
        schema["default"] = default
    return schema


def choice(values: tuple[str, ...] | list[str], default: str | None = None) -> Schema:
    schema: Schema = {"type": "string", "enum": list(values)}
    if default is not None:
        schema["default"] = default
    return schema


def array(items: Schema, *, max_items: int | None = None, min_items: int | None = None,
          unique: bool = False) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if min_items is not None:
        schema["minItems"] = min_items
    if max_items is not None:
        schema["maxItems"] = max_items
    if unique:
        schema["uniqueItems"] = True
    return schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def strict(properties: dict[str, Schema], required: tuple[str, ...] = (),
           min_properties: int | None = None) -> Schema:
    """A request body object: unknown fields are a VALIDATION_ERROR (§1 item 9)."""
    schema: Schema = {"type": "object", "additionalProperties": False,
                      "properties": properties}
    if required:
        schema["required"] = list(required)
    if min_properties is not None:
        schema["minProperties"] = min_properties
    return schema


def record(**properties: Schema) -> Schema:
    """A response object whose fields are always present (COUP.md §6)."""
    return {"type": "object", "required": list(properties), "properties": properties}


def extend(base: str, **properties: Schema) -> Schema:
    """`Base + {fields}` as COUP.md writes it."""
    return {"allOf": [ref(base), record(**properties)]}


STR = text()
NSTR = nullable(text())
INT = integer()
NINT = nullable(integer())
BOOL = boolean()
NBOOL = nullable(boolean())
NUM = {"type": "number"}
TS = text(fmt="date-time", description="UTC instant, e.g. 2025-03-01T09:30:00.000Z")
NTS = nullable(TS)
DATE = text(fmt="date", description="Platform-zone calendar date YYYY-MM-DD")
NDATE = nullable(DATE)
HHMM = text(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24-hour")
ANY_OBJECT: Schema = {"type": "object"}
ID = text(1, 32, pattern=ID_PATTERN)
CATEGORY_VALUES = [category.value for category in CATEGORIES]
SUB_CATEGORY_VALUES = sorted({sub for category in CATEGORIES for sub in category.sub_values})


# --- envelopes (COUP.md §1 items 5-8) ---------------------------------------------------------


def success(data: Schema, pagination: str | None = None) -> Schema:
    """`{success: true, data}`; a paginated list adds `pagination` (offset or cursor)."""
    properties: Schema = {"success": {"const": True}, "data": data}
    if pagination is not None:
        properties["pagination"] = ref(pagination)
    return {"type": "object", "required": list(properties), "properties": properties}


def error_envelope(codes: list[str]) -> Schema:
    """The error envelope narrowed to the codes one response status can carry."""
    return {"allOf": [ref("ErrorEnvelope"), {"properties": {"error": {
        "properties": {"code": {"enum": codes}}}}}]}


ENVELOPE_COMPONENTS: dict[str, Schema] = {
    "ErrorEnvelope": record(
        success={"const": False},
        error={
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": text(pattern=r"^[A-Z][A-Z_]*$", description="COUP.md §2"),
                "message": STR,
                "fields": {"type": "object", "additionalProperties": STR,
                           "description": "Every failing input field (input errors only)"},
                "details": {"type": "object", "description": (
                    "ACCOUNT_SUSPENDED {suspended_until, reason}, RESTRICTED {action, "
                    "restricted_until}, RATE_LIMITED {retry_after_ms}, OWNS_STUDIES {studies}")},
            },
        },
    ),
    "Pagination": record(page=integer(1), limit=integer(1, 100), total=integer(0),
                         total_pages=integer(0), has_next=BOOL, has_prev=BOOL),
    "CursorPagination": record(limit=integer(1, 100), has_more=BOOL, oldest_seq=NINT,
                               newest_seq=NINT, latest_seq=integer(0)),
}


# --- the common objects of COUP.md §6 ---------------------------------------------------------

_STUDY_REF = record(id=STR, name=STR, emoji=STR)

OBJECT_COMPONENTS: dict[str, Schema] = {
    "UserSummary": record(id=STR, name=STR, avatar=NSTR),
    "UserProfile": record(id=STR, name=STR, avatar=NSTR, bio=NSTR, created_at=TS),
    "Me": record(
        id=STR, email=text(fmt="email"), name=STR, avatar=NSTR, bio=NSTR,
        provider=choice(enums.PROVIDER), has_password=BOOL,
        linked_providers=array(choice(("GOOGLE", "GITHUB"))), status=choice(enums.USER_STATUS),
        created_at=TS, updated_at=TS, last_login_at=NTS),
    "Restrictions": nullable(record(actions=array(choice(enums.RESTRICTED_ACTION)), until=NTS)),
    "StudySummary": record(
        id=STR, name=STR, emoji=STR, description=STR, category=STR, sub_category=NSTR,
        tags=array(STR), max_members=INT, current_members=INT, is_public=BOOL,
        auto_approve=BOOL, is_recruiting=BOOL, recruiting_state=choice(("recruiting", "closed")),
        status=choice(enums.STUDY_STATUS), rating=NUM, review_count=INT,
        owner=ref("UserSummary"), created_at=TS,
        my_status=nullable(choice(enums.MEMBER_STATUS))),
    "Study": extend("StudySummary", is_hidden=NBOOL, closed_reason=NSTR, updated_at=TS,
                    my_role=nullable(choice(enums.MEMBER_ROLE)), my_joined_at=NTS),
    "Member": record(user_id=STR, user=ref("UserSummary"), role=choice(enums.MEMBER_ROLE),
                     status=choice(enums.MEMBER_STATUS), joined_at=NTS, approved_at=NTS),
    "JoinRequest": record(
        user=record(id=STR, name=STR, email=text(fmt="email"), avatar=NSTR, bio=NSTR),
        introduction=NSTR, motivation=nullable(choice(enums.JOIN_MOTIVATION)),
        level=nullable(choice(enums.SKILL_LEVEL)), applied_at=NTS,
        other_studies=array(record(id=STR, name=STR, emoji=STR, category=STR), max_items=5)),
    "Invite": record(
        study_id=STR, study_name=STR, invite_code=text(8, 8), invite_url=STR, expires_at=TS,
        max_uses=INT, used_count=INT, available_slots=INT,
        state=choice(("active", "expired", "exhausted")), created_at=TS,
        created_by=nullable(ref("UserSummary"))),
    "FileRef": record(id=STR, name=STR, url=STR, type=STR, size=INT),
    "Message": record(id=STR, client_id=STR, study_id=STR, seq=INT, user=ref("UserSummary"),
                      content=STR, file=nullable(ref("FileRef")), created_at=TS, updated_at=TS,
                      edited=BOOL),
    "Notice": record(id=STR, study_id=STR, title=STR, content=STR, is_pinned=BOOL,
                     pinned_at=NTS, is_important=BOOL, views=INT, author=ref("UserSummary"),
                     attachments=array(ref("FileRef")), created_at=TS, updated_at=TS),
    "File": record(id=STR, study_id=STR, name=STR, size=INT, type=STR,
                   category=choice(enums.FILE_CATEGORY), folder=NSTR, url=STR, downloads=INT,
                   last_downloaded_at=NTS, uploader=ref("UserSummary"), created_at=TS),
    "Event": record(id=STR, study_id=STR, title=STR, description=NSTR, date=DATE,
                    start_time=HHMM, end_time=HHMM, starts_at=TS, ends_at=TS, location=NSTR,
                    color=STR, created_by=ref("UserSummary"), created_at=TS, updated_at=TS),
    "StudyTask": record(id=STR, study_id=STR, title=STR, description=NSTR,
                        status=choice(enums.TASK_STATUS), priority=choice(enums.PRIORITY),
                        due_date=NDATE, completed_at=NTS, created_by=ref("UserSummary"),
                        assignees=array(ref("UserSummary")), created_at=TS, updated_at=TS),
    "PersonalTask": record(id=STR, title=STR, description=NSTR, status=choice(enums.TASK_STATUS),
                           priority=choice(enums.PRIORITY), due_date=NDATE, completed=BOOL,
                           completed_at=NTS, study=nullable(_STUDY_REF), created_at=TS,
                           updated_at=TS),
    "Notification": record(id=STR, type=choice(enums.NOTIFICATION_TYPE), message=STR,
                           study_id=NSTR, study_name=NSTR, study_emoji=NSTR,
                           data=nullable(ANY_OBJECT), is_read=BOOL, created_at=TS),
    "Group": record(id=STR, name=STR, description=NSTR, category=choice(enums.GROUP_CATEGORY),
                    image_url=NSTR, tags=array(STR), is_public=BOOL, max_members=INT,
                    is_recruiting=BOOL, current_members=INT, created_by=ref("UserSummary"),
                    is_member=BOOL, my_role=nullable(choice(enums.GROUP_MEMBER_ROLE)),
                    my_status=nullable(choice(enums.GROUP_MEMBER_STATUS)), created_at=TS,
                    updated_at=TS),
    "GroupMember": record(user=ref("UserSummary"), role=choice(enums.GROUP_MEMBER_ROLE),
                          status=choice(enums.GROUP_MEMBER_STATUS), joined_at=TS, left_at=NTS),
    "GroupInvite": record(id=STR, group_id=STR, code=text(12, 12),
                          status=choice(enums.GROUP_INVITE_STATUS), email=NSTR,
                          invited_user=nullable(ref("UserSummary")),
                          invited_by=ref("UserSummary"), expires_at=NTS, used_at=NTS,
                          used_by=nullable(ref("UserSummary")), created_at=TS),
    "Report": record(id=STR, target_type=choice(enums.TARGET_TYPE), target_id=STR,
                     target_name=NSTR, type=choice(enums.REPORT_TYPE),
                     status=choice(enums.REPORT_STATUS), created_at=TS),
    "Widget": record(id=text(1, 40, pattern=r"^[a-z0-9-]+$"), type=choice(enums.WIDGET_TYPE),
                     title=text(max_len=30), position=integer(0, 10), visible=BOOL,
                     size=choice(("small", "medium", "large"))),
}

# A widget as a client sends it: `size` may be left out ([medium]).
WIDGET_INPUT = strict(
    {"id": text(1, 40, pattern=r"^[a-z0-9-]+$"), "type": choice(enums.WIDGET_TYPE),
     "title": text(max_len=30), "position": integer(0, 10), "visible": BOOL,
     "size": choice(("small", "medium", "large"), "medium")},
    required=("id", "type", "title", "position", "visible"))

STUDY_REF = _STUDY_REF


def components() -> dict[str, Schema]:
    return {**ENVELOPE_COMPONENTS, **OBJECT_COMPONENTS}
