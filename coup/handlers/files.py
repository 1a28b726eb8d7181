"""Study files (COUP.md §7.9): streamed upload, browse, storage use, download and delete.

An upload is never held in memory: `FilesHandler` checks the caller and rule 1 before Tornado
reads the body, then parses the multipart body as it arrives (coup/upload_stream.py), spooling
the file part to `COUP_UPLOAD_DIR/tmp` and cutting it off the moment it passes its limit.
Downloads are read from disk in chunks on a worker thread and written with backpressure.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import IO
from urllib.parse import quote

from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from coup import file_storage
from coup.errors import ApiError, BadRequest, RateLimited, ValidationError
from coup.filetypes import (
    MB,
    classify,
    extension_of,
    inline_allowed,
    is_never_rendered,
    scan_head,
)
from coup.handlers.base import OVERSIZED_DRAIN_BYTES, ApiHandler, error_envelope
from coup.pagination import pagination_view, parse_page
from coup.store import files as files_store
from coup.store.enums import FILE_CATEGORY
from coup.store.fields import new_id
from coup.upload_stream import MultipartError, MultipartParser, UploadForm, boundary_of
from coup.validation import Problems, clean_text, parse_query_bool

log = logging.getLogger(__name__)

# Room for the boundaries, part headers and small fields around the largest allowed file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
FOLDER_MAX_CHARS = 100
SEARCH_MAX_CHARS = 100
# Downloads are read and written in pieces of this size.
DOWNLOAD_CHUNK_BYTES = 256 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")

class FilesHandler(ApiHandler):
    """GET lists a folder; POST receives one upload (multipart: file, folder, category)."""

    _form: UploadForm | None = None
    _parser: MultipartParser | None = None
    _received = 0
    _body_over_cap = False
    _stream_failure: BaseException | None = None
    _global_cap = 0

    def too_large_code(self) -> str:
        return "FILE_TOO_LARGE" if self.request.method == "POST" else "REQUEST_TOO_LARGE"

    async def prepare(self) -> None:
        if self.request.method != "POST":
            await super().prepare()
            return
        # The cap must be known before the base class checks Content-Length.
        self._global_cap = int(await self.services.system_settings.get("max_file_size")) * MB
        self.max_body_bytes = self._global_cap + MULTIPART_OVERHEAD_BYTES
        await super().prepare()
        # Still before the body is read: an error here must close the connection (see base).
        self._body_pending = True
        await self._check_rule_one(self.path_args[0])
        boundary = boundary_of(self.request.headers.get("Content-Type", ""))
        if boundary is None:
            raise BadRequest(message="Send the upload as multipart/form-data.")
        self._parser = MultipartParser(boundary)
        self._form = UploadForm(file_storage.tmp_dir(self.services.settings.upload_dir),
                                self._limit_for)
        self._body_pending = False

    async def _check_rule_one(self, study_id: str) -> None:
        """MEMBER access, then rule 1: uploads switched on, study not CLOSED, rate limit."""
        status = await files_store.check_upload_access(study_id, self.user_id)
        if not await self.services.system_settings.get("allow_file_upload"):
            raise ApiError("FEATURE_DISABLED")
        if status == "CLOSED":
            raise ApiError("STUDY_CLOSED")
        # Per user on every node (COUP.md §1 item 14): a user's uploads land anywhere.
        wait = await self.services.limits.upload.hit(self.user_id)
        if wait:
            raise RateLimited(wait)

    def _limit_for(self, filename: str, content_type: str | None) -> int | None:
        try:
            return classify(filename, content_type, None, self._global_cap).limit_bytes
        except ApiError:
            return None  # refused on its type once the form is complete; store nothing

    async def data_received(self, chunk: bytes) -> None:
        if self._parser is None or self._form is None:
            super().data_received(chunk)
            return
        self._received += len(chunk)
        if self._received > self.max_body_bytes + OVERSIZED_DRAIN_BYTES:
            self.refuse_rest_of_body()
            return
        if self._body_over_cap or self._stream_failure is not None:
            return  # drained: post() answers once the body has ended
        try:
            if self._received > self.max_body_bytes:
                self._body_over_cap = True
                await self._form.discard()
                return
            await self._form.handle(self._parser.feed(chunk))
        except Exception as exc:  # raising here would only drop the connection
            self._stream_failure = exc
            await self._form.discard()

    async def get(self, study_id: str) -> None:
        auth = self.require_user()
        problems = Problems()
        folder = self._folder_query(problems)
        category = self.get_query_argument("category", None) or None
        if category is not None and category not in FILE_CATEGORY:
            problems.add("category", f"must be one of {', '.join(FILE_CATEGORY)}")
        q = clean_text(self.get_query_argument("q", "") or "")
        if len(q) > SEARCH_MAX_CHARS:
            problems.add("q", f"must be at most {SEARCH_MAX_CHARS} characters")
        page = problems.check(parse_page, self.get_query_argument("page", None),
                              self.get_query_argument("limit", None), default_limit=20)
        problems.raise_if_any()
        assert page is not None
        found = await files_store.list_files(study_id, auth.user.id, folder, category,
                                             q or None, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))

    def _folder_query(self, problems: Problems) -> str | None:
        raw = self.get_query_argument("folder", None)
        if raw is None or raw == files_store.ALL_FOLDERS:
            return raw
        folder = clean_text(raw)
        if len(folder) > FOLDER_MAX_CHARS:
            problems.add("folder", f"must be at most {FOLDER_MAX_CHARS} characters")
        return folder or None

    async def post(self, study_id: str) -> None:
        if self._finished:
            return  # refused while the body was still arriving
        auth = self.require_user()
        assert self._form is not None
        try:
            draft = await self._receive(study_id)
            try:
                view = await files_store.create_file(
                    study_id, auth.user.id, draft, self.services.settings.study_quota_bytes)
            except BaseException:
                await asyncio.to_thread(file_storage.remove_stored,
                                        self.services.settings.upload_dir, draft.storage_key)
                raise
        finally:
            await self._form.discard()
        self.created(view)

    async def _receive(self, study_id: str) -> files_store.FileDraft:
        """Rules 2-7 on the received form, in order; then the bytes go to their storage key."""
        form, parser = self._form, self._parser
        assert form is not None and parser is not None
        if self._stream_failure is not None:
            if isinstance(self._stream_failure, MultipartError):
                raise BadRequest(message="The body is not valid multipart/form-data.")
            raise self._stream_failure
        if self._body_over_cap:
            raise ApiError("FILE_TOO_LARGE")
        try:
            parser.close()
        except MultipartError:
            raise BadRequest(message="The body is not valid multipart/form-data.") from None
        folder, category = self._form_fields(form)  # rule 2
        spooled = form.file
        assert spooled is not None
        kind = classify(spooled.filename, spooled.content_type, category,
                        self._global_cap)  # rules 3-5
        if spooled.too_large or spooled.size > kind.limit_bytes:  # rule 6
            raise ApiError("FILE_TOO_LARGE", fields={
                "file": f"must be at most {kind.limit_bytes // MB} MB for {kind.category}"})
        if spooled.size == 0:
            raise ValidationError({"file": "must not be empty"})
        scan_head(kind, bytes(spooled.head))  # rule 7
        temporary = await form.finish_file()
        if temporary is None:
            raise ApiError("INTERNAL", message="the upload was not stored")
        file_id = new_id()
        key = file_storage.storage_key_for(study_id, file_id, kind.extension)
        await asyncio.to_thread(file_storage.move_into_place, temporary,
                                self.services.settings.upload_dir, key)
        return files_store.FileDraft(file_id, kind.name, spooled.size, kind.mime,
                                     kind.category, folder, key)

    def _form_fields(self, form: UploadForm) -> tuple[str | None, str | None]:
        problems = {name: "is not a known field" for name in sorted(form.unknown_fields)}
        if form.file is None:
            problems["file"] = "must be a file" if form.file_without_name else "is required"
        elif form.extra_files or form.file_without_name:
            problems["file"] = "must be exactly one file"
        for name in sorted(form.long_fields):
            problems[name] = "is too long or sent more than once"
        folder = clean_text(form.text("folder") or "") or None
        if folder is not None and len(folder) > FOLDER_MAX_CHARS:
            problems["folder"] = f"must be at most {FOLDER_MAX_CHARS} characters"
        category = (form.text("category") or "").strip() or None
        if category is not None and category not in FILE_CATEGORY:
            problems["category"] = f"must be one of {', '.join(FILE_CATEGORY)}"
        if problems:
            raise ValidationError(problems)
        return folder, category

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._discard_later()

    def on_finish(self) -> None:
        super().on_finish()
        self._discard_later()

    def _discard_later(self) -> None:
        # A temporary file must not outlive its request, whichever way the request ended.
        if self._form is not None:
            IOLoop.current().add_callback(self._form.discard)


class FoldersHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        self.ok(await files_store.list_folders(study_id, self.user_id))


class StorageHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        self.ok(await files_store.storage_summary(study_id, self.user_id,
                                                  self.services.settings.study_quota_bytes))


class FileHandler(ApiHandler):
    async def delete(self, study_id: str, file_id: str) -> None:
        key = await files_store.delete_file(study_id, file_id, self.user_id)
        # After commit: a failure is logged and queued for the purge job, never reported.
        await asyncio.to_thread(file_storage.remove_stored, self.services.settings.upload_dir, key)
        self.ok(None)


class DownloadHandler(ApiHandler):
    """The bytes themselves (errors before the first byte are still JSON envelopes)."""

    async def get(self, study_id: str, file_id: str) -> None:
        auth = self.require_user()
        inline = parse_query_bool(self.get_query_argument("inline", None), "inline", False)
        target = await files_store.access_download(study_id, file_id, auth.user.id)
        extension = extension_of(target.storage_key)
        if inline and not inline_allowed(extension, target.category):
            raise ValidationError({"inline": "is only for images (not SVG), video and audio"})
        try:
            handle, size = await asyncio.to_thread(
                file_storage.open_stored, self.services.settings.upload_dir, target.storage_key)
        except (OSError, ValueError) as exc:
            log.error("file %s of study %s has no bytes at %s: %s", file_id, study_id,
                      target.storage_key, exc)
            raise ApiError("FILE_GONE") from None
        try:
            await self._send(target, extension, handle, size, bool(inline))
        finally:
            await asyncio.to_thread(handle.close)

    async def _send(self, target: files_store.DownloadTarget, extension: str, handle: IO[bytes],
                    size: int, inline: bool) -> None:
        etag = f'"{target.file_id}"'  # a file id never points at different bytes
        wanted = self.request.headers.get("Range")
        if_range = self.request.headers.get("If-Range")
        span = parse_range(wanted, size) if wanted and if_range in (None, etag) else None
        if span == "unsatisfiable":
            self.set_header("Content-Range", f"bytes */{size}")
            self.set_status(416)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            error = BadRequest(message="The requested range is outside the file.")
            self.finish(error_envelope(error, self.services.settings.language))
            return
        start, end = span if isinstance(span, tuple) else (0, size - 1)
        if not inline and start == 0:
            # A download is counted once, not again for each range a client resumes with.
            await files_store.record_download(target.study_id, target.file_id, self.user_id,
                                              self.client_ip(),
                                              self.request.headers.get("User-Agent"))
        self._set_download_headers(target, extension, inline, etag)
        if isinstance(span, tuple):
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.set_header("Content-Length", str(end - start + 1))
        offset, remaining = start, end - start + 1
        while remaining > 0:
            chunk = await asyncio.to_thread(file_storage.read_at, handle, offset,
                                            min(DOWNLOAD_CHUNK_BYTES, remaining))
            if not chunk:
                raise RuntimeError(f"stored file {target.storage_key} shrank while being sent")
            self.write(chunk)
            offset += len(chunk)
            remaining -= len(chunk)
            try:
                await self.flush()
            except StreamClosedError:
                return  # the client went away
        self.finish()

    def _set_download_headers(self, target: files_store.DownloadTarget, extension: str,
                              inline: bool, etag: str) -> None:
        content_type = ("application/octet-stream"
                        if is_never_rendered(extension, target.category) else target.type)
        disposition = "inline" if inline else "attachment"
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition",
                        f"{disposition}; filename*=UTF-8''{quote(target.name, safe='')}")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-File-Id", target.file_id)
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("ETag", etag)
        # Study files are private: no shared cache may keep them.
        self.set_header("Cache-Control", "private, no-store")


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """One `bytes=` range as (first, last) inclusive; "unsatisfiable"; or None to send the
    whole file (no range, a malformed one, or several ranges, which RFC 9110 lets us ignore)."""
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)
