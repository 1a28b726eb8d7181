"""One Peewee model per table of COUP.md §4.3.

The migrations in `sql/<dialect>/` create the schema; these models must describe it exactly
(tests/test_schema.py compares the two on SQLite and PostgreSQL). Every index, the foreign-key
ones included, is listed in `Meta.indexes` so a model reads like its table in the spec: a
foreign key gets its own index unless a listed index already starts with its column (§4.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from peewee import (
    SQL,
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    ModelDelete,
    ModelUpdate,
    TextField,
)

from coup.store import enums
from coup.store.db import database
from coup.store.fields import EnumField, IdField, JSONField, utcnow

_M = TypeVar("_M", bound=Model)


@overload
def _fk(to: type[_M], on_delete: str, *, null: Literal[False] = False,
        column_name: str | None = None) -> ForeignKeyField[_M]: ...
@overload
def _fk(to: type[_M], on_delete: str, *, null: Literal[True],
        column_name: str | None = None) -> ForeignKeyField[_M | None]: ...
def _fk(to: type[_M], on_delete: str, *, null: bool = False,
        column_name: str | None = None) -> ForeignKeyField[_M] | ForeignKeyField[_M | None]:
    # index=False: the indexes are declared in Meta.indexes. backref="+": a model often has
    # several keys to users, whose default backrefs would silently overwrite one another.
    # Each foreign key `x` also gives its model an `x_id` attribute (Peewee's ObjectIdAccessor,
    # the raw key without a query); the models declare it below each key for the type checker.
    if null:
        return ForeignKeyField(to, on_delete=on_delete, null=True, column_name=column_name,
                               index=False, backref="+")
    return ForeignKeyField(to, on_delete=on_delete, column_name=column_name, index=False,
                           backref="+")


class BaseModel(Model):
    """Common base: a random string id and `updated_at` kept current on every write."""

    id = IdField()

    class Meta:
        database = database
        # Index names are `<table>_<columns>` (the table, not the model name).
        legacy_table_names = False

    def save(self, force_insert: bool = False, only: Any = None) -> int:
        field = self._meta.fields.get("updated_at")
        if field is not None:
            self.updated_at = utcnow()
            if only is not None:
                only = [*only, field]
        return super().save(force_insert=force_insert, only=only)

    @classmethod
    def update(cls, data: dict[Any, Any] | None = None, /, **update: Any) -> ModelUpdate:
        """`Model.update()` as in Peewee, setting `updated_at` unless the caller does."""
        field = cls._meta.fields.get("updated_at")
        if field is not None and "updated_at" not in update and isinstance(data, dict | None):
            # Identity, not ==: a Field's == builds an SQL expression, which is always truthy.
            keys = data or {}
            if not any(k == "updated_at" if isinstance(k, str) else k is field for k in keys):
                update["updated_at"] = utcnow()
        return super().update(data, **update)

    if TYPE_CHECKING:
        # Peewee's set of the fields changed since the row was loaded (rows.model_from_row
        # builds rows as Peewee does and clears it too); the stubs leave it out.
        _dirty: set[str]

        # The stubs declare `delete` as a class variable typed with Self, which mypy cannot read
        # through a class ("access to generic instance variables via class is ambiguous");
        # this is the same classmethod, typed. Peewee's own stays in force at run time.
        @classmethod
        def delete(cls) -> ModelDelete: ...


class User(BaseModel):
    """An account. Never hard-deleted: deletion anonymises the row and sets DELETED."""

    email = CharField(max_length=255)
    password_hash = CharField(max_length=100, null=True)
    name = CharField(max_length=50)
    avatar = CharField(max_length=500, null=True)
    bio = CharField(max_length=200, null=True)
    provider = EnumField(enums.PROVIDER, default="CREDENTIALS")
    status = EnumField(enums.USER_STATUS, default="ACTIVE")
    suspended_until = DateTimeField(null=True)
    suspend_reason = TextField(null=True)
    restricted_actions = JSONField(default=list)
    restricted_until = DateTimeField(null=True)
    dashboard_widgets = JSONField(null=True)
    last_login_at = DateTimeField(null=True)
    last_active_at = DateTimeField(null=True)
    deleted_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "users"
        indexes = (
            (("email",), True),
            (("status",), False),
            (("created_at",), False),
            (("last_login_at",), False),
            (("last_active_at",), False),
        )


class Session(BaseModel):
    """A login session; only the SHA-256 of its token is stored."""

    user = _fk(User, "CASCADE")
    user_id: str
    token_hash = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    revoked_at = DateTimeField(null=True)
    revoke_reason = EnumField(enums.SESSION_REVOKE_REASON, null=True)
    ip = CharField(max_length=45, null=True)
    user_agent = CharField(max_length=255, null=True)

    class Meta:
        table_name = "sessions"
        indexes = (
            (("token_hash",), True),
            (("user", "revoked_at"), False),
            (("expires_at",), False),
        )


class OAuthAccount(BaseModel):
    """A Google or GitHub identity linked to a user."""

    user = _fk(User, "CASCADE")
    user_id: str
    provider = EnumField(enums.PROVIDER)
    provider_user_id = CharField(max_length=255)
    email = CharField(max_length=255, null=True)
    email_verified = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)

    class Meta:
        table_name = "oauth_accounts"
        indexes = (
            (("provider", "provider_user_id"), True),
            (("user", "provider"), True),
        )


class OAuthState(BaseModel):
    """One OAuth attempt: single use, expires after 10 minutes."""

    state_hash = CharField(max_length=64)
    provider = EnumField(enums.PROVIDER)
    code_verifier = CharField(max_length=128)
    mode = CharField(max_length=8)
    client = CharField(max_length=8)
    return_to = CharField(max_length=500, null=True)
    link_user = _fk(User, "CASCADE", null=True)
    link_user_id: str | None
    result_user = _fk(User, "CASCADE", null=True)
    result_user_id: str | None
    exchange_code_hash = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)

    class Meta:
        table_name = "oauth_states"
        indexes = (
            (("state_hash",), True),
            (("exchange_code_hash",), True),
            (("expires_at",), False),
            (("link_user",), False),
            (("result_user",), False),
        )


class LoginFailure(BaseModel):
    """A failed password login, counted for the lockout."""

    email = CharField(max_length=255)
    ip = CharField(max_length=45)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "login_failures"
        indexes = (
            (("email", "ip", "created_at"), False),
            (("ip", "created_at"), False),
        )


class Study(BaseModel):
    """A study group; `last_seq` is the head of its durable event log."""

    owner = _fk(User, "RESTRICT")
    owner_id: str
    name = CharField(max_length=50)
    emoji = CharField(max_length=16, default="📚")
    description = TextField()
    category = CharField(max_length=30)
    sub_category = CharField(max_length=30, null=True)
    tags = JSONField(default=list)
    max_members = IntegerField(default=20)
    is_public = BooleanField(default=True)
    auto_approve = BooleanField(default=True)
    is_recruiting = BooleanField(default=True)
    rating = FloatField(default=0)
    review_count = IntegerField(default=0)
    status = EnumField(enums.STUDY_STATUS, default="ACTIVE")
    is_hidden = BooleanField(default=False)
    hidden_at = DateTimeField(null=True)
    hidden_reason = TextField(null=True)
    closed_at = DateTimeField(null=True)
    closed_reason = TextField(null=True)
    deleted_at = DateTimeField(null=True)
    invite_code = CharField(max_length=16, null=True)
    invite_code_expires_at = DateTimeField(null=True)
    invite_code_max_uses = IntegerField(null=True)
    invite_code_used_count = IntegerField(default=0)
    invite_code_created_at = DateTimeField(null=True)
    invite_code_created_by = _fk(User, "SET NULL", null=True, column_name="invite_code_created_by")
    invite_code_created_by_id: str | None
    storage_used = BigIntegerField(default=0)
    last_seq = BigIntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "studies"
        indexes = (
            (("invite_code",), True),
            (("category",), False),
            (("is_public", "is_recruiting"), False),
            (("owner",), False),
            (("status", "is_hidden", "created_at"), False),
            (("rating",), False),
            (("invite_code_created_by",), False),
        )


class StudyMember(BaseModel):
    """A user's membership of a study; a PENDING row is a join request."""

    study = _fk(Study, "CASCADE")
    study_id: str
    user = _fk(User, "CASCADE")
    user_id: str
    role = EnumField(enums.MEMBER_ROLE, default="MEMBER")
    status = EnumField(enums.MEMBER_STATUS, default="PENDING")
    introduction = TextField(null=True)
    motivation = EnumField(enums.JOIN_MOTIVATION, null=True)
    level = EnumField(enums.SKILL_LEVEL, null=True)
    applied_at = DateTimeField(null=True)
    joined_at = DateTimeField(null=True)
    approved_at = DateTimeField(null=True)
    approved_by = _fk(User, "SET NULL", null=True, column_name="approved_by")
    approved_by_id: str | None
    left_at = DateTimeField(null=True)
    kicked_at = DateTimeField(null=True)
    kicked_by = _fk(User, "SET NULL", null=True, column_name="kicked_by")
    kicked_by_id: str | None
    kick_reason = CharField(max_length=200, null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "study_members"
        indexes = (
            (("study", "user"), True),
            (("user", "status"), False),
            (("study", "status", "role"), False),
            (("approved_by",), False),
            (("kicked_by",), False),
        )


class StudyEvent(BaseModel):
    """The durable per-study event log behind PROTOCOL §4; internal, never served by REST."""

    id = BigAutoField()
    study = _fk(Study, "CASCADE")
    study_id: str
    seq = BigIntegerField()
    type = CharField(max_length=40)
    payload = JSONField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "study_events"
        indexes = (
            (("study", "seq"), True),
            (("created_at",), False),
        )


class StudyReadCursor(BaseModel):
    """How far a member has read a study's chat."""

    study = _fk(Study, "CASCADE")
    study_id: str
    user = _fk(User, "CASCADE")
    user_id: str
    last_read_seq = BigIntegerField(default=0)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "study_read_cursors"
        indexes = (
            (("study", "user"), True),
            (("user",), False),
        )


class File(BaseModel):
    """A file uploaded to a study; the bytes live under COUP_UPLOAD_DIR at `storage_key`."""

    study = _fk(Study, "CASCADE")
    study_id: str
    uploader = _fk(User, "RESTRICT")
    uploader_id: str
    name = CharField(max_length=255)
    size = BigIntegerField()
    type = CharField(max_length=127)
    category = EnumField(enums.FILE_CATEGORY)
    folder = CharField(max_length=100, null=True)
    storage_key = CharField(max_length=300)
    downloads = IntegerField(default=0)
    last_downloaded_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "files"
        indexes = (
            (("study", "folder", "created_at"), False),
            (("study", "category"), False),
            (("uploader",), False),
        )


class Message(BaseModel):
    """A chat message; `client_id` makes a resend idempotent."""

    study = _fk(Study, "CASCADE")
    study_id: str
    user = _fk(User, "RESTRICT")
    user_id: str
    client_id = CharField(max_length=64)
    seq = BigIntegerField()
    content = TextField(default="")
    file = _fk(File, "SET NULL", null=True)
    file_id: str | None
    edited_at = DateTimeField(null=True)
    deleted_at = DateTimeField(null=True)
    deleted_by = _fk(User, "SET NULL", null=True, column_name="deleted_by")
    deleted_by_id: str | None
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "messages"
        indexes = (
            (("study", "user", "client_id"), True),
            (("study", "seq"), True),
            (("study", "created_at"), False),
            (("user", "created_at"), False),
            (("file",), False),
            (("deleted_by",), False),
        )


class Notice(BaseModel):
    """A study announcement."""

    study = _fk(Study, "CASCADE")
    study_id: str
    author = _fk(User, "RESTRICT")
    author_id: str
    title = CharField(max_length=100)
    content = TextField()
    is_pinned = BooleanField(default=False)
    pinned_at = DateTimeField(null=True)
    is_important = BooleanField(default=False)
    views = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "notices"
        indexes = (
            (("study", "is_pinned", "created_at"), False),
            (("author",), False),
        )


class NoticeView(BaseModel):
    """A member's first view of a notice."""

    notice = _fk(Notice, "CASCADE")
    notice_id: str
    user = _fk(User, "CASCADE")
    user_id: str
    viewed_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "notice_views"
        indexes = (
            (("notice", "user"), True),
            (("user",), False),
        )


class NoticeFile(BaseModel):
    """A study file attached to a notice."""

    notice = _fk(Notice, "CASCADE")
    notice_id: str
    file = _fk(File, "CASCADE")
    file_id: str
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "notice_files"
        indexes = (
            (("notice", "file"), True),
            (("file",), False),
        )


class FileDownloadLog(BaseModel):
    """One download of a study file."""

    file = _fk(File, "CASCADE")
    file_id: str
    user = _fk(User, "CASCADE")
    user_id: str
    study = _fk(Study, "CASCADE")
    study_id: str
    ip = CharField(max_length=45, null=True)
    user_agent = CharField(max_length=255, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "file_download_logs"
        indexes = (
            (("file", "created_at"), False),
            (("study", "created_at"), False),
            (("user",), False),
        )


class Event(BaseModel):
    """A study calendar entry on one local date."""

    study = _fk(Study, "CASCADE")
    study_id: str
    created_by = _fk(User, "RESTRICT", column_name="created_by")
    created_by_id: str
    title = CharField(max_length=100)
    description = TextField(null=True)
    date = DateField()
    start_time = CharField(max_length=5)
    end_time = CharField(max_length=5)
    location = CharField(max_length=200, null=True)
    color = CharField(max_length=7, default="#6366F1")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "calendar_events"
        indexes = (
            (("study", "date"), False),
            (("created_by",), False),
        )


class Task(BaseModel):
    """A personal to-do, optionally linked to a study."""

    user = _fk(User, "CASCADE")
    user_id: str
    study = _fk(Study, "SET NULL", null=True)
    study_id: str | None
    title = CharField(max_length=100)
    description = TextField(null=True)
    status = EnumField(enums.TASK_STATUS, default="TODO")
    priority = EnumField(enums.PRIORITY, default="MEDIUM")
    due_date = DateField(null=True)
    completed = BooleanField(default=False)
    completed_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "personal_tasks"
        indexes = (
            (("user", "completed", "due_date"), False),
            (("study", "status"), False),
        )


class StudyTask(BaseModel):
    """A task on a study's board."""

    study = _fk(Study, "CASCADE")
    study_id: str
    created_by = _fk(User, "RESTRICT", column_name="created_by")
    created_by_id: str
    title = CharField(max_length=100)
    description = TextField(null=True)
    status = EnumField(enums.TASK_STATUS, default="TODO")
    priority = EnumField(enums.PRIORITY, default="MEDIUM")
    due_date = DateField(null=True)
    completed_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "study_tasks"
        indexes = (
            (("study", "status"), False),
            (("study", "due_date"), False),
            (("created_by",), False),
        )


class StudyTaskAssignee(BaseModel):
    """A member assigned to a study task."""

    task = _fk(StudyTask, "CASCADE")
    task_id: str
    user = _fk(User, "CASCADE")
    user_id: str
    assigned_by = _fk(User, "SET NULL", null=True, column_name="assigned_by")
    assigned_by_id: str | None
    assigned_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "study_task_assignees"
        indexes = (
            (("task", "user"), True),
            (("user",), False),
            (("assigned_by",), False),
        )


class Attendance(BaseModel):
    """A member's check-in to a study on one local date."""

    study = _fk(Study, "CASCADE")
    study_id: str
    user = _fk(User, "CASCADE")
    user_id: str
    date = DateField()
    checked_in_at = DateTimeField(default=utcnow)
    streak = IntegerField(default=1)

    class Meta:
        table_name = "attendance"
        indexes = (
            (("study", "user", "date"), True),
            (("study", "date"), False),
            (("user", "date"), False),
        )


class Notification(BaseModel):
    """An in-app notification; `study_id` is not a foreign key so it outlives its study."""

    user = _fk(User, "CASCADE")
    user_id: str
    type = EnumField(enums.NOTIFICATION_TYPE)
    study_id = CharField(max_length=32, null=True)
    study_name = CharField(max_length=50, null=True)
    study_emoji = CharField(max_length=16, null=True)
    message = CharField(max_length=500)
    data = JSONField(null=True)
    is_read = BooleanField(default=False)
    read_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "notifications"
        indexes = (
            (("user", "is_read", "created_at"), False),
            (("user", "type", "study_id", "is_read"), False),
        )


# At most one unread CHAT notification per user and study: new messages update it (§8.2).
Notification.add_index(
    Notification.index(
        Notification.user,
        Notification.study_id,
        unique=True,
        name="notifications_user_id_study_id_unread_chat",
        where=SQL("type = 'CHAT' AND NOT is_read"),
    )
)


class Report(BaseModel):
    """A user's report of a user, study or message, handled by platform admins."""

    reporter = _fk(User, "RESTRICT")
    reporter_id: str
    target_type = EnumField(enums.TARGET_TYPE)
    target_id = CharField(max_length=32)
    target_name = CharField(max_length=100, null=True)
    type = EnumField(enums.REPORT_TYPE)
    reason = TextField()
    evidence = JSONField(null=True)
    status = EnumField(enums.REPORT_STATUS, default="PENDING")
    priority = EnumField(enums.PRIORITY, default="MEDIUM")
    assigned_to = _fk(User, "SET NULL", null=True, column_name="assigned_to")
    assigned_to_id: str | None
    assigned_at = DateTimeField(null=True)
    processed_by = _fk(User, "SET NULL", null=True, column_name="processed_by")
    processed_by_id: str | None
    processed_at = DateTimeField(null=True)
    resolution = TextField(null=True)
    linked_action = CharField(max_length=20, null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "reports"
        indexes = (
            (("status", "priority", "created_at"), False),
            (("target_type", "target_id"), False),
            (("reporter", "created_at"), False),
            (("assigned_to", "status"), False),
            (("processed_by",), False),
        )


# The spec's name; it shadows the builtin Warning inside this module only.
class Warning(BaseModel):
    """A warning an admin gave a user; enough of them trigger a suspension."""

    user = _fk(User, "CASCADE")
    user_id: str
    admin = _fk(User, "RESTRICT")
    admin_id: str
    reason = TextField()
    severity = EnumField(enums.WARNING_SEVERITY, default="NORMAL")
    related_content = CharField(max_length=100, null=True)
    expires_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "warnings"
        indexes = (
            (("user", "created_at"), False),
            (("severity", "created_at"), False),
            (("user", "expires_at"), False),
            (("admin",), False),
        )


class Sanction(BaseModel):
    """A suspension or restriction of a user (legacy types only from imports)."""

    user = _fk(User, "CASCADE")
    user_id: str
    admin = _fk(User, "RESTRICT")
    admin_id: str
    type = EnumField(enums.SANCTION_TYPE)
    reason = TextField()
    duration = CharField(max_length=10, null=True)
    expires_at = DateTimeField(null=True)
    related_report = _fk(Report, "SET NULL", null=True)
    related_report_id: str | None
    metadata = JSONField(null=True)
    is_active = BooleanField(default=True)
    unsuspended_by = _fk(User, "SET NULL", null=True, column_name="unsuspended_by")
    unsuspended_by_id: str | None
    unsuspend_reason = TextField(null=True)
    unsuspended_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "sanctions"
        indexes = (
            (("user", "type", "created_at"), False),
            (("user", "is_active", "expires_at"), False),
            (("is_active", "expires_at"), False),
            (("admin",), False),
            (("related_report",), False),
            (("unsuspended_by",), False),
        )


class AdminLog(BaseModel):
    """The audit trail of platform-admin actions."""

    admin = _fk(User, "RESTRICT")
    admin_id: str
    action = EnumField(enums.ADMIN_ACTION)
    target_type = CharField(max_length=20, null=True)
    target_id = CharField(max_length=32, null=True)
    before = JSONField(null=True)
    after = JSONField(null=True)
    metadata = JSONField(null=True)
    reason = TextField(null=True)
    ip = CharField(max_length=45, null=True)
    user_agent = CharField(max_length=255, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "admin_logs"
        indexes = (
            (("admin", "created_at"), False),
            (("action", "created_at"), False),
            (("target_type", "target_id"), False),
        )


class AdminRole(BaseModel):
    """A user's platform-admin role; permissions follow from the role (§3.5)."""

    user = _fk(User, "CASCADE")
    user_id: str
    role = EnumField(enums.ADMIN_ROLE_TYPE)
    granted_by = _fk(User, "SET NULL", null=True, column_name="granted_by")
    granted_by_id: str | None
    granted_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(null=True)

    class Meta:
        table_name = "admin_roles"
        indexes = (
            (("user",), True),
            (("role",), False),
            (("granted_by",), False),
        )


class Group(BaseModel):
    """A community group (separate from studies); soft-deleted."""

    name = CharField(max_length=50)
    description = TextField(null=True)
    category = EnumField(enums.GROUP_CATEGORY, default="ETC")
    image_url = CharField(max_length=500, null=True)
    tags = JSONField(default=list)
    is_public = BooleanField(default=True)
    max_members = IntegerField(default=50)
    is_recruiting = BooleanField(default=True)
    created_by = _fk(User, "RESTRICT", column_name="created_by")
    created_by_id: str
    deleted_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "groups"
        indexes = (
            (("category",), False),
            (("is_public", "is_recruiting"), False),
            (("created_by",), False),
            (("deleted_at",), False),
        )


class GroupMember(BaseModel):
    """A user's membership of a group; ordered by `joined_at` (there is no `created_at`)."""

    group = _fk(Group, "CASCADE")
    group_id: str
    user = _fk(User, "CASCADE")
    user_id: str
    role = EnumField(enums.GROUP_MEMBER_ROLE, default="MEMBER")
    status = EnumField(enums.GROUP_MEMBER_STATUS, default="ACTIVE")
    joined_at = DateTimeField(default=utcnow)
    left_at = DateTimeField(null=True)

    class Meta:
        table_name = "group_members"
        indexes = (
            (("group", "user"), True),
            (("user",), False),
            (("group", "status"), False),
        )


class GroupInvite(BaseModel):
    """An invitation to a group, by user or by email, redeemed with `code`."""

    group = _fk(Group, "CASCADE")
    group_id: str
    invited_by = _fk(User, "RESTRICT")
    invited_by_id: str
    invited_user = _fk(User, "CASCADE", null=True)
    invited_user_id: str | None
    email = CharField(max_length=255, null=True)
    code = CharField(max_length=12)
    status = EnumField(enums.GROUP_INVITE_STATUS, default="PENDING")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(null=True)
    used_at = DateTimeField(null=True)
    used_by = _fk(User, "SET NULL", null=True)
    used_by_id: str | None

    class Meta:
        table_name = "group_invites"
        indexes = (
            (("code",), True),
            (("group", "status"), False),
            (("invited_by",), False),
            (("invited_user",), False),
            (("used_by",), False),
        )


class SystemSetting(BaseModel):
    """One platform setting (§11), its value serialised according to `type`."""

    category = CharField(max_length=20)
    key = CharField(max_length=64)
    value = TextField()
    type = EnumField(enums.SETTING_TYPE)
    description = CharField(max_length=255, null=True)
    updated_at = DateTimeField(default=utcnow)
    updated_by = _fk(User, "SET NULL", null=True, column_name="updated_by")
    updated_by_id: str | None

    class Meta:
        table_name = "system_settings"
        indexes = (
            (("key",), True),
            (("category",), False),
            (("updated_by",), False),
        )


# Parents before children: the order the tables are created in, the reverse drops them.
ALL_MODELS: list[type[BaseModel]] = [
    User,
    Session,
    OAuthAccount,
    OAuthState,
    LoginFailure,
    Study,
    StudyMember,
    StudyEvent,
    StudyReadCursor,
    File,
    Message,
    Notice,
    NoticeView,
    NoticeFile,
    FileDownloadLog,
    Event,
    Task,
    StudyTask,
    StudyTaskAssignee,
    Attendance,
    Notification,
    Report,
    Warning,
    Sanction,
    AdminLog,
    AdminRole,
    Group,
    GroupMember,
    GroupInvite,
    SystemSetting,
]
