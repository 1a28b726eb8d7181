"""Hostile values for tests/test_hostile_inputs.py, how they are written on the wire, and how a
run is judged (issue 10, "Close the classes").

A hostile value is a Python value or `Raw` JSON text. Strings may hold lone surrogates and NUL:
`json.dumps` with ensure_ascii writes those as `\\udfff` / `\\u0000` escapes, which is exactly
what a hostile client sends. `Raw` covers what a Python value cannot carry cheaply (1,000 levels
of nesting, NaN). Query strings, path segments and multipart parts are bytes, so there a lone
surrogate is its would-be UTF-8 encoding (ED BF BF), which is not valid UTF-8.

`ServerLog` keeps the server's error records (the server runs in this process), so every finding
carries the traceback that explains it; `Findings` groups them by cause for the failure message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.authorization_support import Clients, StudyWorld
from tests.conftest import LiveServer, User

# Nesting depth of the deep values: far beyond any real body, and past Python's default
# recursion limit for a recursive walker.
DEEP_LEVELS = 1000
LONG_CHARS = 10_000
EXTREME_DATES = ("0001-01-01", "9999-12-31")
EXTREME_DATETIMES = ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z")


@dataclass(frozen=True)
class Raw:
    """JSON text inserted as written."""

    text: str


DEEP_LIST = Raw("[" * DEEP_LEVELS + "]" * DEEP_LEVELS)
DEEP_OBJECT = Raw('{"a":' * DEEP_LEVELS + "1" + "}" * DEEP_LEVELS)
# Deeper than the parsers' own limits (ujson stops at 1,024 levels, Python's json at its
# recursion limit): the refusal must not depend on the parser getting through it.
DEEPER_LIST = Raw("[" * 5 * DEEP_LEVELS + "]" * 5 * DEEP_LEVELS)


def encode_json(value: Any) -> str:
    """JSON text with every non-ASCII character escaped (so lone surrogates survive)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode_json(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode_json(item) for item in value) + "]"
    return json.dumps(value)


def wire_bytes(text: str) -> bytes:
    """A string as bytes on the wire; a lone surrogate becomes its (invalid) UTF-8 form."""
    return text.encode("utf-8", "surrogatepass")


def url_part(text: str) -> str:
    return quote(wire_bytes(text), safe="")


def describe(value: Any) -> str:
    """A short, readable label of a hostile value for the failure report."""
    if isinstance(value, Raw):
        text = value.text
    elif isinstance(value, bytes):
        text = repr(value)
    else:
        text = encode_json(value)
    if len(text) > 60:
        return f"{text[:40]}…({len(text)} chars)"
    return text


# --- the catalogue ------------------------------------------------------------------------------


def surrogate_inside(base: str) -> str:
    """A lone low surrogate inside an otherwise valid value (so length rules still pass)."""
    return base[:1] + "\udfff" + base[1:] if base else "\udfff"


def hostile_strings(base: str, date_like: bool) -> list[Any]:
    """The sweep for one string field: each value alone in an otherwise valid body."""
    values: list[Any] = [surrogate_inside(base), base + "\ud800", base[:1] + "\x00" + base[1:],
                         "x" * LONG_CHARS]
    if date_like:
        values += [*EXTREME_DATES, *EXTREME_DATETIMES]
    return values


# Wrong types for every field whatever its type; out-of-range numbers for numeric fields.
HOSTILE_ANY: list[Any] = [2**63, {"\udfff": "\x00"}, DEEP_LIST]
HOSTILE_NUMBERS: list[Any] = [-(2**63) - 1, 2**64, -1, 1e308]
# Extra keys: an unknown key that is itself hostile must be refused without echoing it raw.
HOSTILE_KEYS = ["\udfff", "a\x00b", "k" * LONG_CHARS]


def hostile_field_values(base: Any, date_like: bool) -> list[Any]:
    """The sweep for one field, chosen by the type of its valid value."""
    if isinstance(base, str):
        return hostile_strings(base, date_like) + HOSTILE_ANY
    if isinstance(base, int | float) and not isinstance(base, bool):
        return ["\udfff", *HOSTILE_ANY, *HOSTILE_NUMBERS]
    return ["\udfff", -1, *HOSTILE_ANY]


def hostile_query_values(date_like: bool) -> list[str]:
    """Query parameter values (already percent-encoded)."""
    values = [url_part("\udfff"), url_part("a\x00b"), "%FF%FE", "x" * LONG_CHARS,
              "9" * 30, "-" + "9" * 30, "1e308", "NaN"]
    if date_like:
        values += [*EXTREME_DATES, *(url_part(v) for v in EXTREME_DATETIMES), "10000-01-01"]
    return values


HOSTILE_PATH_VALUES = [url_part("\udfff"), url_part("a\x00b"), "x" * LONG_CHARS]


def hostile_bodies(base: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Whole bodies: deep nesting, wrong top-level types, every field hostile at once, bad
    UTF-8, NaN, hostile keys."""
    bodies: list[Any] = [DEEP_OBJECT, DEEP_LIST, DEEPER_LIST, "\udfff", [], 2**64, None,
                         {k: surrogate_inside(v) if isinstance(v, str) else "\udfff"
                          for k, v in base.items()} or {"\udfff": "\udfff"},
                         {k: "\x00" for k in base} or {"a": "\x00"},
                         {k: DEEP_LIST for k in base} or {"a": DEEP_LIST},
                         Raw('{"a": NaN}'), *({**base, key: "\udfff"} for key in HOSTILE_KEYS)]
    raw = [(describe(body), encode_json(body).encode()) for body in bodies]
    raw += [("bytes FF FE (not UTF-8) in every string", bytes_in_strings(base, b"\xff\xfe")),
            ("a surrogate's bytes ED BF BF in every string",
             bytes_in_strings(base, wire_bytes("\udfff")))]
    return raw


def bytes_in_strings(base: dict[str, Any], raw: bytes) -> bytes:
    """The body as UTF-8 JSON with `raw` at the start of every string value."""
    marker = "\ue000"  # a private-use character, replaced by the raw bytes after encoding
    marked = {k: marker + v if isinstance(v, str) else v for k, v in base.items()}
    return json.dumps(marked or {"a": marker}, ensure_ascii=False).encode().replace(
        marker.encode(), raw)


# Generated hostile values for the Hypothesis phase: a little of every class above, mixed.
hostile_text = st.text(st.characters(categories=["Cs", "Cc", "Co", "Cn", "Zs", "Mn", "So"])
                       | st.characters(), max_size=40)
hostile_numbers = st.integers(-(2**80), 2**80) | st.floats(allow_nan=False)
hostile_dates = (st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}")
                 | st.datetimes().map(lambda d: d.isoformat() + "Z")
                 | st.sampled_from([*EXTREME_DATES, "0000-00-00", "10000-01-01", "2024-02-30"]))
hostile_scalars = (hostile_text | hostile_numbers | hostile_dates | st.none() | st.booleans()
                   | st.integers(1, 20).map(lambda n: "x" * (n * 500)))
hostile_values = st.recursive(
    hostile_scalars | st.integers(50, DEEP_LEVELS + 200).map(lambda n: Raw("[" * n + "]" * n)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=6)
hostile_query_text = (hostile_text.map(url_part) | hostile_numbers.map(str)
                      | hostile_dates.map(url_part))


# --- base (valid) values from an operation's schema ------------------------------------------


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).date().isoformat()


def is_date_like(name: str, schema: dict[str, Any]) -> bool:
    return schema.get("format") in ("date", "date-time") or any(
        part in name for part in ("date", "_at", "month", "time"))


def schema_types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def generic_value(name: str, schema: dict[str, Any]) -> Any:
    """A value the schema accepts, for a field no override names."""
    if "oneOf" in schema:
        return generic_value(name, schema["oneOf"][0])
    if "const" in schema:
        return schema["const"]
    enum = [value for value in schema.get("enum", []) if value is not None]
    if enum:
        return enum[0]
    kinds = schema_types(schema)
    if "boolean" in kinds:
        return False  # True trips cross-field rules (pin limit, `completed` against status)
    if "integer" in kinds or "number" in kinds:
        low, high = schema.get("minimum", 1), schema.get("maximum", 10)
        return max(low, min(high, 5))
    if "array" in kinds:
        return [generic_value(name, schema.get("items", {}))]
    if "object" in kinds:
        return {key: generic_value(key, sub) for key, sub in schema.get("properties", {}).items()
                if key in schema.get("required", [])}
    if schema.get("format") == "date":
        return tomorrow()
    size = max(schema.get("minLength", 0), 6)
    size = min(size, schema.get("maxLength", size))
    return ("스터디 테스트 내용입니다 " * 10)[:size]


def field_paths(schema: dict[str, Any], prefix: tuple[Any, ...] = (),
                depth: int = 0) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every field of a body schema, nested arrays and objects included, with its schema."""
    if "oneOf" in schema:
        schema = schema["oneOf"][0]
    found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for key, sub in schema.get("properties", {}).items():
        path = (*prefix, key)
        found.append((path, sub))
        if depth >= 2:
            continue
        if "array" in schema_types(sub) and isinstance(sub.get("items"), dict):
            item = sub["items"]
            found.append(((*path, 0), item))
            found += field_paths(item, (*path, 0), depth + 1)
    return found


def with_value(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of `body` with the field at `path` set to `value` (parents made as needed)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [None]
        items[0] = with_value(items[0], rest, value)
        return items
    copy = dict(body) if isinstance(body, dict) else {}
    copy[head] = with_value(copy.get(head), rest, value)
    return copy


def path_label(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


# --- the server's log ------------------------------------------------------------------------


class ServerLog(logging.Handler):
    """Error records of the in-process server (and warnings of its actors), in order."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.name.startswith("coup.actors"):
            with self._lock:
                self.records.append(record)

    def mark(self) -> int:
        with self._lock:
            return len(self.records)

    def since(self, mark: int) -> list[str]:
        with self._lock:
            return [summarize(record) for record in self.records[mark:]]

    def __enter__(self) -> ServerLog:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)


def summarize(record: logging.LogRecord) -> str:
    """The log line, the exception, and the innermost frame of the project's own code."""
    text = f"{record.name}: {record.getMessage()[:160]}"
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        frames = traceback.extract_tb(error.__traceback__)
        ours = [f for f in frames if "/coup/" in f.filename] or frames
        where = f"{ours[-1].filename.split('/coup/')[-1]}:{ours[-1].lineno} {ours[-1].name}" \
            if ours else "?"
        text += f" | {type(error).__name__}: {str(error)[:160]} at coup/{where}"
    return text


# --- findings ----------------------------------------------------------------------------------


@dataclass
class Finding:
    target: str  # "POST /api/studies" or "ws chat:message"
    part: str  # where the hostile value was: "body:name", "query:page", "data:content"...
    value: str
    outcome: str
    log: list[str] = field(default_factory=list)

    def cause(self) -> str:
        """What groups findings: the outcome's kind and the innermost logged error."""
        errors = [line.split(" | ", 1)[-1] for line in self.log if " | " in line]
        outcome = re.sub(r"\d+", "N", self.outcome.split(": ")[0])[:200]
        return f"{outcome} / {errors[-1] if errors else 'no traceback'}"


@dataclass
class Findings:
    items: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.items.append(finding)
        # COUP_HOSTILE_REPORT=<file> keeps every finding as JSON lines for a triage report.
        path = os.environ.get("COUP_HOSTILE_REPORT")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(finding.__dict__, ensure_ascii=True) + "\n")

    def report(self, limit_per_cause: int = 6) -> str:
        groups: dict[str, list[Finding]] = {}
        for finding in self.items:
            groups.setdefault(finding.cause(), []).append(finding)
        lines = [f"{len(self.items)} hostile inputs were mishandled ({len(groups)} causes):"]
        for cause, members in groups.items():
            lines.append(f"* {cause} ({len(members)}x)")
            lines += [f"    {f.target} [{f.part}] = {f.value} -> {f.outcome}"
                      for f in members[:limit_per_cause]]
        return "\n".join(lines)

    def check(self) -> None:
        assert not self.items, self.report()


# --- the world the requests are pointed at -----------------------------------------------------

# Operations that can end the caller's session, remove the rows others use or change who is
# who: each gets a world of its own, so the shared world stays whole for the other operations.
# Operations on the caller's own account are sent by a user who owns nothing (an owner cannot
# delete their account: OWNS_STUDIES).
ACCOUNT_PATHS = ("/api/users/me", "/api/users/me/password")
DESTRUCTIVE_ENDINGS = ("/logout", "/leave", "/transfer-ownership", "/password", "/approve",
                       "/reject", "/regenerate")


def is_destructive(method: str, path: str) -> bool:
    # A new invite code voids the one the shared world's join requests use.
    return method == "DELETE" or path.endswith(DESTRUCTIVE_ENDINGS) or (
        method == "POST" and path.endswith("/invite"))


def fresh_email() -> str:
    return f"hostile-{secrets.token_hex(6)}@example.com"


class HostileWorld:
    """A study owned by the caller and, made on first use, one row of each kind a path or a
    body names (message, notice, event, tasks, file, group, invite, notification...)."""

    def __init__(self, server: LiveServer, clients: Clients) -> None:
        self.server = server
        self.clients = clients
        self.roles = StudyWorld(server, clients)
        self.owner = self.roles.owner
        self.study_id = self.roles.study_id
        self._ids: dict[str, str] = {}

    # ids -------------------------------------------------------------------------------------

    def made(self, name: str) -> str:
        if name not in self._ids:
            self._ids[name] = self._make(name)
        return self._ids[name]

    def _make(self, name: str) -> str:
        http, study = self.owner.http, f"/api/studies/{self.study_id}"
        makers: dict[str, Any] = {
            "message_id": lambda: http.post(f"{study}/chat", json={"content": "첫 메시지"}),
            "notice_id": lambda: http.post(f"{study}/notices", json={
                "title": "첫 공지", "content": "공지 내용입니다."}),
            "event_id": lambda: http.post(f"{study}/calendar", json={
                "title": "정기 모임", "date": tomorrow(), "start_time": "10:00",
                "end_time": "11:00"}),
            "study_task_id": lambda: http.post(f"{study}/tasks", json={"title": "스터디 할 일"}),
            "personal_task_id": lambda: http.post("/api/tasks", json={"title": "개인 할 일"}),
            "file_id": lambda: http.post(f"{study}/files", files={
                "file": ("notes.txt", "스터디 노트".encode(), "text/plain")}),
            "group_id": lambda: http.post("/api/groups", json={
                "name": f"적대 그룹 {secrets.token_hex(3)}"}),
            "invite_id": lambda: http.post(f"/api/groups/{self.made('group_id')}/invites",
                                           json={"user_id": self.user("invitee").id}),
        }
        if name in makers:
            response = makers[name]()
            assert response.status_code in (200, 201), (name, response.text)
            return response.json()["data"]["id"]
        if name == "group_member":
            member = self.user("member")
            response = http.post(f"/api/groups/{self.made('group_id')}/members",
                                 json={"user_id": member.id})
            assert response.status_code in (200, 201), response.text
            return member.id
        if name == "session_id":
            sessions = http.get("/api/auth/sessions").json()["data"]
            return next(s["id"] for s in sessions if s["current"])
        if name == "notification_id":
            return self.roles.value("owner_note")
        if name == "code":
            return self.roles.value("code")
        raise KeyError(name)

    def user(self, role: str) -> User:
        """member, applicant, non_member, outsider, invitee...: made on first use."""
        return self.roles.person(role)

    def path_id(self, name: str, path: str) -> str:
        """The real id a `{name}` path parameter of `path` stands for."""
        if name == "user_id":
            if "/join-requests/" in path:
                return self.roles.value("applicant")
            return self.made("group_member") if path.startswith("/api/groups/") \
                else self.user("member").id
        if name == "task_id":
            return self.made("personal_task_id" if path.startswith("/api/tasks/")
                             else "study_task_id")
        if name == "study_id":
            return self.study_id
        if name == "name":
            return "nothing-here.png"
        return self.made(name)

    # callers ---------------------------------------------------------------------------------

    def caller(self, method: str, path: str) -> Any:
        """The client an operation is sent with: the role that reaches its deepest code."""
        if path in ("/api/auth/signup", "/api/auth/login"):
            return self.clients.client()
        if path in ("/api/studies/{study_id}/join", "/api/groups/{group_id}/join"):
            return self.user("non_member").http
        if path in ACCOUNT_PATHS:
            return self.user("account").http
        if path == "/api/studies/{study_id}/leave":
            return self.user("member").http
        if path == "/api/groups/{group_id}/leave":
            self.made("group_member")
            return self.user("member").http
        return self.owner.http

    # bodies ----------------------------------------------------------------------------------

    def base_body(self, method: str, path: str, schema: dict[str, Any]) -> dict[str, Any]:
        """A body the operation accepts: every documented field, each with a valid value."""
        if "oneOf" in schema:
            schema = schema["oneOf"][0]
        login = self.login_user() if path == "/api/auth/login" else None
        return {name: self.body_value(path, name, sub, login)
                for name, sub in schema.get("properties", {}).items()}

    def login_user(self) -> User:
        # A fresh user per login request: failed guesses lock an account out (COUP.md §5.3),
        # and a locked account would stop the later requests before the code under test.
        return self.clients.signup("로그인유저")

    def body_value(self, path: str, name: str, schema: dict[str, Any],
                   login: User | None) -> Any:
        signup = path == "/api/auth/signup"
        me = self.user("account") if path in ACCOUNT_PATHS else self.owner
        by_name: dict[str, Any] = {
            # Group invites take a user id or an email, not both: the base sends the id.
            "email": lambda: login.email if login else fresh_email() if signup else None,
            "password": lambda: login.password if login else "Secret-pass-123" if signup
            else me.password,
            "password_confirm": lambda: "Secret-pass-123",
            "current_password": lambda: me.password,
            "new_password": lambda: "New-secret-456",
            "confirm_password": lambda: "New-secret-456",
            "confirmation": lambda: me.email,
            "name": lambda: f"적대 그룹 {secrets.token_hex(3)}" if path.startswith("/api/groups")
            else "새 사용자" if "/users/" in path or signup else "적대 스터디",
            "user_id": lambda: self.user("outsider").id,
            "target_user_id": lambda: self.user("member").id,
            "target_id": lambda: self.user("member").id,
            "study_id": lambda: self.study_id,
            "file_id": lambda: self.made("file_id"),
            "client_id": lambda: str(uuid.uuid4()),
            "invite_code": lambda: self.made("code") if path.startswith("/api/studies") else None,
            "ids": lambda: [self.made("notification_id")],
            "assignee_ids": lambda: [self.user("member").id],
            "attachment_file_ids": lambda: [self.made("file_id")],
            "widgets": lambda: self.owner.http.get("/api/dashboard/widgets").json()
            ["data"]["widgets"],
            "evidence": lambda: {"note": "증거 자료"},
            "sub_category": lambda: None,
            "date": tomorrow, "due_date": tomorrow,
            "start_time": lambda: "10:00", "end_time": lambda: "11:00",
            "color": lambda: "#336699",
            "avatar": lambda: "https://example.com/avatar.png",
            "image_url": lambda: "https://example.com/group.png",
            "max_members": lambda: 10,
            # The shared study and group stay open to the joins other operations send.
            "is_public": lambda: True, "is_recruiting": lambda: True,
            "auto_approve": lambda: True,
        }
        if name in by_name:
            return by_name[name]()
        return generic_value(name, schema)


# --- multipart ---------------------------------------------------------------------------------

BOUNDARY = "hostile-boundary-7d1f"


@dataclass(frozen=True)
class Part:
    name: bytes
    content: bytes
    filename: bytes | None = None
    content_type: bytes | None = None


def multipart(parts: list[Part]) -> tuple[bytes, str]:
    """A multipart/form-data body written byte by byte (so part names and file names can hold
    what an HTTP library would refuse to encode)."""
    chunks: list[bytes] = []
    for part in parts:
        head = b'Content-Disposition: form-data; name="' + part.name + b'"'
        if part.filename is not None:
            head += b'; filename="' + part.filename + b'"'
        chunks.append(b"--" + BOUNDARY.encode() + b"\r\n" + head + b"\r\n")
        if part.content_type is not None:
            chunks.append(b"Content-Type: " + part.content_type + b"\r\n")
        chunks.append(b"\r\n" + part.content + b"\r\n")
    chunks.append(b"--" + BOUNDARY.encode() + b"--\r\n")
    return b"".join(chunks), f"multipart/form-data; boundary={BOUNDARY}"


HOSTILE_PART_BYTES = [wire_bytes("노트\udfff"), b"a\x00b", b"x" * LONG_CHARS, b"\xff\xfe",
                      b"9" * 30]
HOSTILE_FILE_NAMES = [wire_bytes("\udfff.txt"), b"a\x00b.txt", b"n" * LONG_CHARS + b".txt",
                      b"<notes.md>", b"../../etc/passwd", b"", b"\xff\xfe.txt"]
