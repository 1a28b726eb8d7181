"""What a study file may be (COUP.md §7.9 upload rules 3-7): name cleaning, the blocklist, the
category and MIME tables, size limits, and the magic-number scan.

Everything here is pure: the upload handler calls `classify()` as soon as a part's headers
arrive (to know the size limit while streaming) and again, with the whole form, to decide.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from coup.errors import ApiError, ValidationError

MB = 1024 * 1024
NAME_MAX_CHARS = 255
# The magic-number scan reads this much of the file's start (§7.9 rule 7).
SCAN_BYTES = 4096

# Rule 4: refused wherever they appear as a dot-separated part of the name.
BLOCKED_EXTENSIONS = frozenset({
    "exe", "bat", "cmd", "com", "scr", "pif", "msi", "dll", "sys", "drv", "sh", "bash", "csh",
    "vbs", "js", "jse", "wsf", "ps1", "psm1",
})
BLOCKED_MIME_TYPES = frozenset({
    "application/x-msdownload", "application/x-executable", "application/x-msi",
    "application/x-sh", "application/x-bat",
})
GENERIC_MIME_TYPES = frozenset({"application/octet-stream", ""})

# Rule 5/6: category limits in bytes.
CATEGORY_LIMITS: dict[str, int] = {
    "IMAGE": 10 * MB, "DOCUMENT": 10 * MB, "ARCHIVE": 50 * MB, "VIDEO": 100 * MB,
    "AUDIO": 20 * MB, "CODE": 2 * MB,
}

# Extension -> (category, standard MIME types). The first type is the canonical one we store;
# the others are aliases real browsers and operating systems send for the same format.
_TEXT = "text/plain"
EXTENSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jpg": ("IMAGE", ("image/jpeg", "image/jpg", "image/pjpeg")),
    "jpeg": ("IMAGE", ("image/jpeg", "image/jpg", "image/pjpeg")),
    "png": ("IMAGE", ("image/png", "image/x-png")),
    "gif": ("IMAGE", ("image/gif",)),
    "webp": ("IMAGE", ("image/webp",)),
    "svg": ("IMAGE", ("image/svg+xml",)),
    "bmp": ("IMAGE", ("image/bmp", "image/x-bmp", "image/x-ms-bmp")),
    "ico": ("IMAGE", ("image/vnd.microsoft.icon", "image/x-icon", "image/ico")),
    "tif": ("IMAGE", ("image/tiff", "image/tif")),
    "tiff": ("IMAGE", ("image/tiff", "image/tif")),
    "heic": ("IMAGE", ("image/heic", "image/heic-sequence")),
    "heif": ("IMAGE", ("image/heif", "image/heif-sequence")),
    "pdf": ("DOCUMENT", ("application/pdf", "application/x-pdf")),
    "doc": ("DOCUMENT", ("application/msword",)),
    "docx": ("DOCUMENT",
             ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",)),
    "xls": ("DOCUMENT", ("application/vnd.ms-excel",)),
    "xlsx": ("DOCUMENT", ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)),
    "ppt": ("DOCUMENT", ("application/vnd.ms-powerpoint",)),
    "pptx": ("DOCUMENT",
             ("application/vnd.openxmlformats-officedocument.presentationml.presentation",)),
    "txt": ("DOCUMENT", (_TEXT,)),
    "md": ("DOCUMENT", ("text/markdown", "text/x-markdown", _TEXT)),
    "zip": ("ARCHIVE", ("application/zip", "application/x-zip-compressed", "application/x-zip",
                        "multipart/x-zip")),
    "rar": ("ARCHIVE", ("application/vnd.rar", "application/x-rar-compressed",
                        "application/x-rar")),
    "7z": ("ARCHIVE", ("application/x-7z-compressed",)),
    "tar": ("ARCHIVE", ("application/x-tar",)),
    "gz": ("ARCHIVE", ("application/gzip", "application/x-gzip")),
    "mp4": ("VIDEO", ("video/mp4",)),
    "avi": ("VIDEO", ("video/x-msvideo", "video/avi", "video/msvideo")),
    "mov": ("VIDEO", ("video/quicktime",)),
    "wmv": ("VIDEO", ("video/x-ms-wmv",)),
    "flv": ("VIDEO", ("video/x-flv",)),
    "webm": ("VIDEO", ("video/webm",)),
    "mp3": ("AUDIO", ("audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3")),
    "wav": ("AUDIO", ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")),
    "ogg": ("AUDIO", ("audio/ogg", "application/ogg")),
    "m4a": ("AUDIO", ("audio/mp4", "audio/x-m4a", "audio/m4a")),
    "flac": ("AUDIO", ("audio/flac", "audio/x-flac")),
    "jsx": ("CODE", ("text/jsx", "text/javascript", "application/javascript", _TEXT)),
    # Browsers map .ts to MPEG transport streams; the bytes are served as a download anyway.
    "ts": ("CODE", ("text/typescript", "application/typescript", "application/x-typescript",
                    "video/mp2t", "video/vnd.dlna.mpeg-tts", _TEXT)),
    "tsx": ("CODE", ("text/tsx", "text/typescript", "application/typescript", _TEXT)),
    "py": ("CODE", ("text/x-python", "text/x-script.python", "application/x-python",
                    "text/python", _TEXT)),
    "java": ("CODE", ("text/x-java-source", "text/x-java", "text/java", _TEXT)),
    "cpp": ("CODE", ("text/x-c++src", "text/x-c++", "text/x-c", _TEXT)),
    "c": ("CODE", ("text/x-csrc", "text/x-c", _TEXT)),
    "html": ("CODE", ("text/html",)),
    "css": ("CODE", ("text/css",)),
    "json": ("CODE", ("application/json", "text/json", _TEXT)),
    "xml": ("CODE", ("application/xml", "text/xml", _TEXT)),
}

# Downloads of these are sent as application/octet-stream whatever their stored type, so a
# browser never renders them as a page (§7.9 download).
NEVER_RENDERED_EXTENSIONS = frozenset({"svg", "html"})


@dataclass(frozen=True)
class FileKind:
    """A name that passed rules 3-5: what it is and how large it may be."""

    name: str
    extension: str
    category: str
    mime: str
    limit_bytes: int


# --- rule 3: the name -------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_OUTSIDE_ALLOWED = re.compile(r"[^A-Za-z0-9가-힣._-]")
_DASH_RUN = re.compile(r"-{2,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_file_name(raw: str) -> str:
    """The §7.9 rule 3 name: never a path, only safe characters, at most 255 with its
    extension kept. May be empty (the caller answers VALIDATION_ERROR)."""
    # NFC first: macOS sends decomposed Hangul, which would otherwise become dashes.
    name = _CONTROL.sub("", unicodedata.normalize("NFC", raw))
    name = _TAG.sub("", name)
    name = name.replace("/", "-").replace("\\", "-")
    name = _OUTSIDE_ALLOWED.sub("-", name)
    name = _DASH_RUN.sub("-", name).strip("-.")
    if len(name) <= NAME_MAX_CHARS:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) >= NAME_MAX_CHARS - 1:
        return name[:NAME_MAX_CHARS].rstrip("-.")
    stem = stem[:NAME_MAX_CHARS - len(extension) - 1].rstrip("-.")
    return f"{stem}.{extension}"


def extension_of(name: str) -> str:
    _, dot, extension = name.rpartition(".")
    return extension.lower() if dot else ""


# --- rules 3-5 together -----------------------------------------------------------------------


def normalise_mime(declared: str | None) -> str:
    return (declared or "").split(";")[0].strip().lower()


def classify(raw_name: str, declared_mime: str | None, declared_category: str | None,
             global_cap_bytes: int) -> FileKind:
    """Apply rules 3 (name), 4 (blocklist) and 5 (category and MIME) in order."""
    name = clean_file_name(raw_name)
    if not name:
        raise ValidationError({"file": "the file name has no usable characters"})
    parts = [part.lower() for part in name.split(".")]
    blocked = sorted(BLOCKED_EXTENSIONS.intersection(parts))
    mime = normalise_mime(declared_mime)
    if blocked:
        raise ApiError("FILE_TYPE_NOT_ALLOWED",
                       fields={"file": f".{blocked[0]} files are not allowed"})
    if mime in BLOCKED_MIME_TYPES:
        raise ApiError("FILE_TYPE_NOT_ALLOWED", fields={"file": f"{mime} is not allowed"})
    extension = extension_of(name)
    known = EXTENSIONS.get(extension)
    if known is None:
        raise ApiError("FILE_TYPE_NOT_ALLOWED",
                       fields={"file": "this file extension is not allowed"})
    category, standard_types = known
    if declared_category is not None and declared_category != category:
        raise ApiError("FILE_TYPE_NOT_ALLOWED",
                       fields={"category": f"a .{extension} file is in {category}"})
    if mime not in GENERIC_MIME_TYPES and mime not in standard_types:
        raise ApiError("FILE_TYPE_NOT_ALLOWED",
                       fields={"file": f"{mime} is not a type of .{extension} files"})
    limit = min(CATEGORY_LIMITS[category], global_cap_bytes)
    # The canonical type is stored, so downloads carry one well-known type per format.
    return FileKind(name, extension, category, standard_types[0], limit)


# --- rule 7: magic numbers --------------------------------------------------------------------

# PE, ELF, Mach-O (32/64-bit, both byte orders), and Java class / Mach-O fat binary.
EXECUTABLE_SIGNATURES: tuple[bytes, ...] = (
    b"MZ", b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf",
)
ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ASF = b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c"
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm",
                         b"hevs", b"mif1", b"msf1", b"heif"})
# QuickTime files may open with any of these top-level atoms instead of `ftyp`.
QUICKTIME_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


def _starts(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(prefixes)


def _riff(form: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == form


def _iso_media(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def _heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def _quicktime(head: bytes) -> bool:
    return head[4:8] in QUICKTIME_ATOMS


def _mp3(head: bytes) -> bool:
    # An ID3 tag, or straight into an MPEG audio frame (11 set sync bits).
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF
                                       and head[1] & 0xE0 == 0xE0)


def _tar(head: bytes) -> bool:
    # POSIX and GNU tar both carry "ustar" at offset 257; pre-POSIX v7 archives are refused.
    return head[257:262] == b"ustar"


SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "jpg": _starts(b"\xff\xd8\xff"),
    "jpeg": _starts(b"\xff\xd8\xff"),
    "png": _starts(b"\x89PNG\r\n\x1a\n"),
    "gif": _starts(b"GIF87a", b"GIF89a"),
    "webp": _riff(b"WEBP"),
    "bmp": _starts(b"BM"),
    "ico": _starts(b"\x00\x00\x01\x00"),
    "tif": _starts(b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
    "tiff": _starts(b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
    "heic": _heif,
    "heif": _heif,
    "pdf": _starts(b"%PDF-"),
    "doc": _starts(OLE),
    "xls": _starts(OLE),
    "ppt": _starts(OLE),
    "docx": _starts(*ZIP),
    "xlsx": _starts(*ZIP),
    "pptx": _starts(*ZIP),
    "zip": _starts(*ZIP),
    "rar": _starts(b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00"),
    "7z": _starts(b"7z\xbc\xaf\x27\x1c"),
    "tar": _tar,
    "gz": _starts(b"\x1f\x8b"),
    "mp4": _iso_media,
    "mov": _quicktime,
    "avi": _riff(b"AVI "),
    "wmv": _starts(ASF),
    "flv": _starts(b"FLV"),
    "webm": _starts(b"\x1a\x45\xdf\xa3"),
    "mp3": _mp3,
    "wav": _riff(b"WAVE"),
    "ogg": _starts(b"OggS"),
    "m4a": _iso_media,
    "flac": _starts(b"fLaC", b"ID3"),
}


def scan_head(kind: FileKind, head: bytes) -> None:
    """Rule 7 on the first 4 KB: no executable, and binary formats must look like themselves.

    Text formats (txt, md, svg, code) have no signature to check; they are always served as
    downloads with nosniff, so their content is never interpreted by the browser.
    """
    head = head[:SCAN_BYTES]
    if head.startswith(EXECUTABLE_SIGNATURES):
        raise ApiError("FILE_REJECTED", fields={"file": "is an executable program"})
    check = SIGNATURES.get(kind.extension)
    if check is not None and not check(head):
        raise ApiError("FILE_REJECTED",
                       fields={"file": f"does not start like a .{kind.extension} file"})


def is_never_rendered(extension: str, category: str) -> bool:
    """SVG, HTML and every CODE file download as application/octet-stream."""
    return category == "CODE" or extension in NEVER_RENDERED_EXTENSIONS


def inline_allowed(extension: str, category: str) -> bool:
    """`inline=true` previews: images except SVG, video and audio."""
    if category == "IMAGE":
        return extension != "svg"
    return category in ("VIDEO", "AUDIO")
