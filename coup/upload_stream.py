"""Streaming multipart/form-data for study uploads (COUP.md §7.9): parse while the body arrives,
spool the one file part to a temporary file, and stop storing the moment it passes its limit.

`MultipartParser` is incremental: `feed(chunk)` returns the events found so far and keeps at
most one delimiter's length of unfinished input, so memory stays at one network chunk however
large the body is. `UploadForm` consumes the events: small text fields are kept (bounded), the
file part goes to disk through a worker thread in batches, and its first 4 KB are kept for the
magic-number scan.
"""

from __future__ import annotations

import asyncio
import email.message
import logging
import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from coup import inbound
from coup.filetypes import SCAN_BYTES

log = logging.getLogger(__name__)

# A part's header block larger than this is not a browser's: refuse the body.
MAX_PART_HEADER_BYTES = 16 * 1024
# Text fields (folder, category) are short; more than this is a VALIDATION_ERROR.
MAX_TEXT_FIELD_BYTES = 4 * 1024
# Spooled bytes are written to disk in batches of about this size, off the event loop.
WRITE_BATCH_BYTES = 256 * 1024


class MultipartError(ValueError):
    """The body is not valid multipart/form-data."""


@dataclass(frozen=True)
class PartStart:
    name: str | None
    filename: str | None
    content_type: str | None


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE = range(5)


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type header, or None."""
    message = email.message.Message()
    message["Content-Type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        return None
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        return None


class MultipartParser:
    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # A leading CRLF lets the first boundary match the same pattern as the later ones.
        self._buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, chunk: bytes) -> list[Event]:
        if self._state == _DONE:
            return []  # the epilogue is ignored
        self._buffer += chunk
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        if self._state != _DONE:
            raise MultipartError("the body ends before the closing boundary")

    def _step(self, events: list[Event]) -> bool:
        """Advance one state if the buffer allows; False when more input is needed."""
        buffer, delimiter = self._buffer, self._delimiter
        if self._state in (_PREAMBLE, _BODY):
            index = buffer.find(delimiter)
            if index < 0:
                keep = len(delimiter) - 1  # a delimiter may be split across chunks
                if len(buffer) > keep:
                    if self._state == _BODY:
                        events.append(PartData(bytes(buffer[:-keep])))
                    del buffer[:-keep]
                return False
            if self._state == _BODY:
                if index:
                    events.append(PartData(bytes(buffer[:index])))
                events.append(PartEnd())
            del buffer[:index + len(delimiter)]
            self._state = _AFTER_DELIMITER
            return True
        if self._state == _AFTER_DELIMITER:
            if len(buffer) < 2:
                return False
            if buffer[:2] == b"--":
                self._state = _DONE
                buffer.clear()
                return False
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > 1024:
                    raise MultipartError("garbage after a boundary")
                return False
            if buffer[:end].strip(b" \t"):
                raise MultipartError("garbage after a boundary")
            del buffer[:end + 2]
            self._state = _HEADERS
            return True
        if self._state == _HEADERS:
            if buffer[:2] == b"\r\n":  # a part with no headers at all
                header_block, consumed = b"", 2
            else:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_PART_HEADER_BYTES:
                        raise MultipartError("a part's headers are too large")
                    return False
                header_block, consumed = bytes(buffer[:end]), end + 4
            del buffer[:consumed]
            events.append(parse_part_headers(header_block))
            self._state = _BODY
            return True
        return False


def parse_part_headers(block: bytes) -> PartStart:
    if len(block) > MAX_PART_HEADER_BYTES:
        raise MultipartError("a part's headers are too large")
    # Browsers send file names as raw UTF-8 inside the quotes.
    text = block.decode("utf-8", errors="replace")
    message = email.message.Message()
    for line in text.split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise MultipartError("a part header has no colon")
        message[name.strip()] = value.strip()
    kind, params = parse_content_disposition(message.get("Content-Disposition", ""))
    if kind != "form-data":
        raise MultipartError("a part is not form-data")
    filename = params.get("filename*", params.get("filename"))
    return PartStart(name=params.get("name"), filename=filename,
                     content_type=message.get("Content-Type"))


# One `; key=value` parameter: a token, or a quoted string in which a backslash escapes the
# next character (RFC 7230 quoted-pair), as curl sends it; browsers percent-encode quotes.
_PARAMETER = re.compile(
    r'\s*;\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;"]*))')
_QUOTED_PAIR = re.compile(r"\\([\\\"])")


def parse_content_disposition(header: str) -> tuple[str, dict[str, str]]:
    """The disposition type (lower case) and its parameters, each value exactly as sent.

    The standard library's header parsing also unquotes `<...>` (email.utils.unquote), which
    turned a file named `<notes.md>` into `notes.md` before the §7.9 name rules could see the
    brackets; the name rules must judge the name the client sent. `filename*` (RFC 5987)
    is decoded from its charset.
    """
    kind, _, rest = header.partition(";")
    params: dict[str, str] = {}
    rest = ";" + rest if rest else ""
    position = 0
    while position < len(rest):
        if not rest[position:].strip(" \t;"):
            break  # a trailing `;`
        match = _PARAMETER.match(rest, position)
        if match is None:
            raise MultipartError("a part's Content-Disposition is malformed")
        key = match.group(1).lower()
        if match.group(2) is not None:
            value = _QUOTED_PAIR.sub(r"\1", match.group(2))
        else:
            value = match.group(3).strip()
        if key.endswith("*"):
            value = _decode_extended(value)
        params.setdefault(key, value)
        position = match.end()
    return kind.strip().lower(), params


def _decode_extended(value: str) -> str:
    """An RFC 5987 `charset'language'percent-encoded` value."""
    charset, quote, rest = value.partition("'")
    _, quote2, encoded = rest.partition("'")
    if not quote or not quote2:
        raise MultipartError("a part's Content-Disposition is malformed")
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:
        raise MultipartError("a part's file name has an unknown charset") from None


@dataclass
class SpooledFile:
    """The form's file part: its declared name and type, and how far it got."""

    filename: str
    content_type: str | None
    limit_bytes: int | None  # None: it will be refused anyway, so nothing is stored
    size: int = 0
    head: bytearray = field(default_factory=bytearray)
    path: Path | None = None
    too_large: bool = False
    _handle: IO[bytes] | None = None
    _pending: bytearray = field(default_factory=bytearray)


class UploadForm:
    """Collects one upload form from parser events.

    `limit_for(filename, content_type)` names the size limit of a file part as soon as its
    headers are known, or None when the file will be refused on its type (then nothing of it
    is written). The file part is written to `tmp_dir`; `discard()` removes it.
    """

    TEXT_FIELDS = ("folder", "category")

    def __init__(self, tmp_dir: Path,
                 limit_for: Callable[[str, str | None], int | None]) -> None:
        self._tmp_dir = tmp_dir
        self._limit_for = limit_for
        self.file: SpooledFile | None = None
        self.extra_files = 0
        self.fields: dict[str, bytearray] = {}
        self.long_fields: set[str] = set()
        self.unknown_fields: set[str] = set()
        self.file_without_name = False
        self._current: str | None = None  # "file", a text field name, or None (discard)
        self._io_lock = asyncio.Lock()

    async def handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, PartStart):
                self._start_part(event)
            elif isinstance(event, PartData):
                await self._part_data(event.data)
            else:
                if self._current == "file":
                    await self._flush()
                self._current = None

    def _start_part(self, part: PartStart) -> None:
        self._current = None
        if part.name == "file":
            if part.filename is None:
                self.file_without_name = True
            elif self.file is not None:
                self.extra_files += 1
            else:
                self.file = SpooledFile(part.filename, part.content_type,
                                        self._limit_for(part.filename, part.content_type))
                self._current = "file"
        elif part.name in self.TEXT_FIELDS and part.filename is None:
            if part.name in self.fields:
                self.long_fields.add(part.name)  # sent twice: refused like an overlong value
            self.fields[part.name] = bytearray()
            self._current = part.name
        else:
            self.unknown_fields.add(part.name or "(unnamed part)")

    async def _part_data(self, data: bytes) -> None:
        if self._current is None:
            return
        if self._current != "file":
            value = self.fields[self._current]
            if len(value) + len(data) > MAX_TEXT_FIELD_BYTES:
                self.long_fields.add(self._current)
                self._current = None
            else:
                value += data
            return
        spooled = self.file
        assert spooled is not None
        spooled.size += len(data)
        if len(spooled.head) < SCAN_BYTES:
            spooled.head += data[:SCAN_BYTES - len(spooled.head)]
        if spooled.limit_bytes is None or spooled.too_large:
            return
        if spooled.size > spooled.limit_bytes:
            # Cut off: nothing more is written, and what was written goes right away.
            spooled.too_large = True
            spooled._pending.clear()
            await self.discard()
            return
        spooled._pending += data
        if len(spooled._pending) >= WRITE_BATCH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        spooled = self.file
        if spooled is None or not spooled._pending or spooled.too_large:
            return
        batch = bytes(spooled._pending)
        spooled._pending.clear()
        async with self._io_lock:
            handle = await self._opened(spooled)
            await asyncio.to_thread(handle.write, batch)

    async def _opened(self, spooled: SpooledFile) -> IO[bytes]:
        """The spooled file's handle, its temporary file created first if needed (hold
        _io_lock)."""
        if spooled._handle is None:
            handle, spooled.path = await asyncio.to_thread(_open_temp_file, self._tmp_dir)
            spooled._handle = handle
            return handle
        return spooled._handle

    async def finish_file(self) -> Path | None:
        """Close the spooled file (flushed) and return its path; None if nothing was stored."""
        spooled = self.file
        if spooled is None or spooled.too_large or spooled.limit_bytes is None:
            return None
        await self._flush()
        async with self._io_lock:
            handle = await self._opened(spooled)  # an empty file still gets a path
            await asyncio.to_thread(handle.close)
        return spooled.path

    async def discard(self) -> None:
        """Close and delete the temporary file, if any (safe to call more than once)."""
        spooled = self.file
        if spooled is None:
            return
        async with self._io_lock:
            handle, path = spooled._handle, spooled.path
            spooled._handle, spooled.path = None, None
            if handle is not None or path is not None:
                await asyncio.to_thread(_close_and_remove, handle, path)

    def text(self, name: str) -> str | None:
        value = self.fields.get(name)
        return None if value is None else inbound.decode_text(bytes(value), name)


def _open_temp_file(directory: Path) -> tuple[IO[bytes], Path]:
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=directory)
    return os.fdopen(descriptor, "wb"), Path(name)


def _close_and_remove(handle: IO[bytes] | None, path: Path | None) -> None:
    try:
        if handle is not None and not handle.closed:
            handle.close()
    finally:
        if path is not None:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                # Stale temporaries are swept by the purge job (see coup/file_storage.py).
                log.warning("could not remove temporary upload %s: %s", path.name, exc)
