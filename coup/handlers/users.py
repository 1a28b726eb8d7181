"""Users and profile endpoints (COUP.md §7.2), except OAuth unlinking."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tornado.httputil import HTTPFile, HTTPInputError, parse_body_arguments

from coup import passwords
from coup.avatars import AVATAR_URL_PREFIX, avatar_dir, delete_avatar_file
from coup.errors import ApiError, BadRequest, RateLimited, ValidationError
from coup.handlers.base import ApiHandler
from coup.pagination import pagination_view, parse_page
from coup.rules import BIO, USER_NAME
from coup.store import users
from coup.validation import AVATAR_URL, Password, Problems, Text, clean_text

SEARCH_TERM_MAX_CHARS = 50
AVATAR_MIN_BYTES = 1024
AVATAR_MAX_BYTES = 5 * 1024 * 1024
# Room for the multipart boundaries and part headers around a 5 MB file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Current-password guesses allowed per user (password change and account deletion).
# Accepted MIME types per extension; some clients send the non-standard image/jpg.
AVATAR_MIME_TYPES: dict[str, tuple[str, ...]] = {
    "jpg": ("image/jpeg", "image/jpg"),
    "jpeg": ("image/jpeg", "image/jpg"),
    "png": ("image/png",),
    "gif": ("image/gif",),
    "webp": ("image/webp",),
}




class UserSearchHandler(ApiHandler):
    async def get(self) -> None:
        self.require_user()
        problems = Problems()
        term = clean_text(self.get_query_argument("q", "") or "")
        if len(term) > SEARCH_TERM_MAX_CHARS:
            problems.add("q", f"must be at most {SEARCH_TERM_MAX_CHARS} characters")
        page = problems.check(parse_page, self.get_query_argument("page", None),
                              self.get_query_argument("limit", None))
        problems.raise_if_any()
        assert page is not None
        found = await users.search_users(term or None, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))


class UserProfileHandler(ApiHandler):
    async def get(self, user_id: str) -> None:
        self.require_user()
        self.ok(await users.load_public_profile(user_id))


class PasswordCheckedHandler(ApiHandler):
    """The current-password check shared by password change and account deletion.

    Both count wrong guesses against the same per-user limit, so deletion cannot be used to
    brute-force a password that the change endpoint protects.
    """

    async def check_current_password(self, password: str | None, password_hash: str,
                                     field: str) -> None:
        if password is None:
            raise ValidationError({field: "is required"})
        # Every guess counts, on every node: behind a load balancer without stickiness a
        # per-node count would multiply the budget by the number of nodes.
        wait = await self.services.limits.password.hit(self.user_id)
        if wait:
            raise RateLimited(wait)
        if not await passwords.verify_password_async(password, password_hash):
            raise ApiError("WRONG_PASSWORD", fields={field: "is not correct"})


class MeProfileHandler(PasswordCheckedHandler):
    profile_schema = {"name": USER_NAME, "bio": BIO, "avatar": AVATAR_URL}
    deletion_schema = {"confirmation": Text(max_len=255), "password": Password(required=False)}

    async def get(self) -> None:
        self.ok(await users.load_own_profile(self.user_id))

    async def patch(self) -> None:
        user_id = self.user_id
        changes = self.parse(self.profile_schema, partial=True)
        change = await users.update_profile(user_id, changes)
        await delete_avatar_file(self.services.settings, change.replaced_avatar)
        self.ok(change.me)

    async def delete(self) -> None:
        user_id = self.user_id
        data = self.parse(self.deletion_schema)
        credentials = await users.load_credentials(user_id)
        if data["confirmation"].lower() != credentials.email.lower():
            raise ApiError("CONFIRMATION_MISMATCH",
                           fields={"confirmation": "must equal your email address"})
        if credentials.password_hash is not None:
            await self.check_current_password(data.get("password"), credentials.password_hash,
                                              "password")
        deleted = await users.delete_account(user_id)
        await delete_avatar_file(self.services.settings, deleted.avatar)
        self.clear_session_cookie()
        self.ok(None)


class PasswordHandler(PasswordCheckedHandler):
    schema = {
        "current_password": Password(required=False),
        "new_password": Password(),
        "confirm_password": Password(required=False),
    }

    async def patch(self) -> None:
        auth = self.require_user()
        data = self.parse(self.schema)
        credentials = await users.load_credentials(auth.user.id)
        current, new = data.get("current_password"), data["new_password"]
        if credentials.password_hash is not None:
            await self.check_current_password(current, credentials.password_hash,
                                              "current_password")
        confirm = data.get("confirm_password")
        if confirm is not None and confirm != new:
            raise ApiError("PASSWORD_MISMATCH", fields={"confirm_password": "does not match"})
        if credentials.password_hash is not None and new == current:
            raise ApiError("SAME_PASSWORD",
                           fields={"new_password": "must differ from the current password"})
        min_length = int(await self.services.system_settings.get("min_password_length"))
        problem = passwords.password_problem(new, email=credentials.email, min_length=min_length)
        if problem:
            raise ApiError("WEAK_PASSWORD", fields={"new_password": problem})
        new_hash = await passwords.hash_password_async(new, self.services.settings.bcrypt_rounds)
        await users.change_password(
            auth.user.id, new_hash, expected_hash=credentials.password_hash,
            keep_session_id=auth.session.id)
        self.ok(None)


class MyStatsHandler(ApiHandler):
    async def get(self) -> None:
        self.ok(await users.load_my_stats(self.user_id, self.services.settings.tz))


class AvatarHandler(ApiHandler):
    max_body_bytes = AVATAR_MAX_BYTES + MULTIPART_OVERHEAD_BYTES

    def too_large_code(self) -> str:
        return "FILE_TOO_LARGE"

    async def post(self) -> None:
        user_id = self.user_id
        upload = self._uploaded_file()
        extension = avatar_extension(upload)
        name, path = await asyncio.to_thread(
            write_avatar_file, avatar_dir(self.services.settings), user_id, extension, upload.body)
        try:
            change = await users.update_profile(user_id, {"avatar": AVATAR_URL_PREFIX + name})
        except BaseException:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        await delete_avatar_file(self.services.settings, change.replaced_avatar)
        self.ok(change.me)

    async def delete(self) -> None:
        change = await users.clear_avatar(self.user_id)
        await delete_avatar_file(self.services.settings, change.replaced_avatar)
        self.ok(change.me)

    def _uploaded_file(self) -> HTTPFile:
        body = self.raw_body()
        content_type = self.request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise BadRequest(message="Send the avatar as multipart/form-data.")
        fields: dict[str, list[bytes]] = {}
        files: dict[str, list[HTTPFile]] = {}
        try:
            parse_body_arguments(content_type, body, fields, files, self.request.headers)
        except HTTPInputError:
            raise BadRequest(message="The body is not valid multipart/form-data.") from None
        problems = {name: "is not a known field" for name in [*fields, *files] if name != "file"}
        uploads = files.get("file", [])
        if len(uploads) != 1:
            problems["file"] = "must be exactly one file" if uploads else "is required"
        if problems:
            raise ValidationError(problems)
        return uploads[0]


def avatar_extension(upload: HTTPFile) -> str:
    """Check an avatar against the §7.2 rules; returns its lowercase extension."""
    size = len(upload.body)
    if size < AVATAR_MIN_BYTES:
        raise ValidationError({"file": "must be at least 1 KB"})
    if size > AVATAR_MAX_BYTES:
        raise ApiError("FILE_TOO_LARGE", message="The avatar must be at most 5 MB.")
    _, dot, extension = (upload.filename or "").rpartition(".")
    extension = extension.lower() if dot else ""
    mime = (upload.content_type or "").split(";")[0].strip().lower()
    if mime not in AVATAR_MIME_TYPES.get(extension, ()):
        raise ApiError("FILE_TYPE_NOT_ALLOWED",
                       fields={"file": "must be a .jpg, .jpeg, .png, .gif or .webp image"})
    if not signature_matches(extension, upload.body):
        raise ApiError("FILE_REJECTED")
    return extension


def signature_matches(extension: str, content: bytes) -> bool:
    """Whether the bytes start with the image signature the extension promises."""
    if extension in ("jpg", "jpeg"):
        return content.startswith(b"\xff\xd8\xff")
    if extension == "png":
        return content.startswith(b"\x89PNG\r\n\x1a\n")
    if extension == "gif":
        return content.startswith((b"GIF87a", b"GIF89a"))
    if extension == "webp":
        return content[:4] == b"RIFF" and content[8:12] == b"WEBP"
    return False


def write_avatar_file(directory: Path, user_id: str, extension: str,
                      content: bytes) -> tuple[str, Path]:
    """Write a new `{user_id}_{epoch_ms}.{ext}` file (blocking: run it in a thread)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = int(time.time() * 1000)
    while True:
        name = f"{user_id}_{stamp}.{extension}"
        path = directory / name
        try:
            handle = path.open("xb")
        except FileExistsError:
            stamp += 1  # two uploads in the same millisecond: the name must stay unique
            continue
        try:
            with handle:
                handle.write(content)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return name, path
