"""Study file bytes on disk (COUP.md §7.9): where they live, moving uploads in, reading ranges
out, and deleting them with a retry list for the purge job.

Layout under COUP_UPLOAD_DIR (never served statically; only the download endpoint reads it):
* `studies/{study_id}/{file_id}.{ext}`: the bytes; `files.storage_key` holds this relative
  path. The user's file name never reaches the disk.
* `tmp/`: uploads being received. A crash can leave files here; `sweep_stale_temporaries`
  removes old ones.
* `.trash`: relative storage keys whose deletion failed after their row was deleted, one per
  line. `retry_pending_deletions` (for the studies-purge job, §12) retries and rewrites it.

All functions block: call them with `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

STUDIES_DIR = "studies"
TMP_DIR = "tmp"
TRASH_LIST = ".trash"
# Temporary uploads older than this are left over from a crash or a dropped connection.
STALE_TEMPORARY_SECONDS = 24 * 3600

_trash_lock = threading.Lock()


def tmp_dir(upload_dir: Path) -> Path:
    return upload_dir / TMP_DIR


def storage_key_for(study_id: str, file_id: str, extension: str) -> str:
    return f"{STUDIES_DIR}/{study_id}/{file_id}.{extension}"


def path_for(upload_dir: Path, storage_key: str) -> Path:
    """The absolute path of a storage key; refuses any key that would leave the upload dir."""
    root = upload_dir.resolve()
    path = (root / storage_key).resolve()
    if root not in path.parents:
        raise ValueError(f"storage key {storage_key!r} is outside the upload directory")
    return path


def move_into_place(temporary: Path, upload_dir: Path, storage_key: str) -> Path:
    """Rename a received upload to its storage key (same file system: atomic)."""
    target = path_for(upload_dir, storage_key)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, target)
    return target


def remove_stored(upload_dir: Path, storage_key: str) -> bool:
    """Delete a file's bytes; on failure log it, list it in `.trash`, and return False."""
    try:
        path_for(upload_dir, storage_key).unlink(missing_ok=True)
        return True
    except OSError as exc:
        log.error("could not delete stored file %s (queued for the purge job): %s",
                  storage_key, exc)
        remember_failed_deletion(upload_dir, storage_key)
        return False


def remember_failed_deletion(upload_dir: Path, storage_key: str) -> None:
    with _trash_lock, (upload_dir / TRASH_LIST).open("a", encoding="utf-8") as listing:
        listing.write(storage_key + "\n")


def retry_pending_deletions(upload_dir: Path) -> tuple[int, int]:
    """Retry the deletions listed in `.trash`; returns (deleted, still failing)."""
    listing = upload_dir / TRASH_LIST
    with _trash_lock:
        try:
            keys = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines()]
        except FileNotFoundError:
            return 0, 0
        failing: list[str] = []
        deleted = 0
        for key in dict.fromkeys(k for k in keys if k):
            try:
                path_for(upload_dir, key).unlink(missing_ok=True)
                deleted += 1
            except (OSError, ValueError) as exc:
                log.warning("stored file %s still cannot be deleted: %s", key, exc)
                failing.append(key)
        if failing:
            listing.write_text("".join(k + "\n" for k in failing), encoding="utf-8")
        else:
            listing.unlink(missing_ok=True)
    return deleted, len(failing)


def sweep_stale_temporaries(upload_dir: Path,
                            older_than_seconds: float = STALE_TEMPORARY_SECONDS) -> int:
    """Remove abandoned temporary uploads; returns how many were removed."""
    directory = tmp_dir(upload_dir)
    if not directory.is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for entry in directory.iterdir():
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except OSError as exc:
            log.warning("could not remove stale temporary upload %s: %s", entry.name, exc)
    return removed


def open_stored(upload_dir: Path, storage_key: str) -> tuple[IO[bytes], int]:
    """Open a stored file for reading; FileNotFoundError when its bytes are missing."""
    path = path_for(upload_dir, storage_key)
    handle = path.open("rb")
    return handle, os.fstat(handle.fileno()).st_size


def read_at(handle: IO[bytes], offset: int, size: int) -> bytes:
    handle.seek(offset)
    return handle.read(size)
