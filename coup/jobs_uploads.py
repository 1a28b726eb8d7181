"""The uploads of purged studies (COUP.md §12 studies-purge), on top of `coup.file_storage`.

A study's files live under `COUP_UPLOAD_DIR/studies/<study_id>/` (file_storage's layout). Each
file is removed with `file_storage.remove_stored`, which lists a failed removal in `.trash` for
`file_storage.retry_pending_deletions` to retry on the next purge. The study's folder itself
is removed last; a folder that could not be removed, or that a crash left behind after its
study row was deleted, has no study row any more, and the orphan sweep of the next purge
removes it.

Every function blocks except `sweep_orphan_study_folders`: call them through
`asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from pathlib import Path

from coup import file_storage
from coup.store.db import db_task
from coup.store.models import Study

log = logging.getLogger(__name__)

# Folder names that can be study ids (COUP.md §1 item 3); anything else is never swept.
_STUDY_DIR_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Ids per query when checking which study folders still have a study.
_SWEEP_CHUNK = 500


def study_folder(upload_dir: Path, study_id: str) -> Path:
    return upload_dir / file_storage.STUDIES_DIR / study_id


def remove_folder(folder: Path) -> bool:
    """Remove a folder and everything in it; False (logged) when that failed."""
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove upload folder %s (the next purge retries): %s",
                    folder, exc)
        return False
    return True


def remove_study_uploads(upload_dir: Path, study_id: str, keys: list[str]) -> tuple[int, int]:
    """Remove a purged study's files, then its folder; returns (removed, failed)."""
    removed = failed = 0
    for key in keys:
        try:
            done = file_storage.remove_stored(upload_dir, key)
        except ValueError:
            log.warning("study %s: storage key %r is outside the upload folder; left alone",
                        study_id, key)
            continue
        removed, failed = (removed + 1, failed) if done else (removed, failed + 1)
    if remove_folder(study_folder(upload_dir, study_id)):
        return removed, failed
    return removed, failed + 1


def _study_folder_names(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(path.name for path in root.iterdir()
                  if path.is_dir() and _STUDY_DIR_NAME.fullmatch(path.name))


@db_task
def _existing_study_ids(ids: list[str]) -> set[str]:
    return {row.id for row in Study.select(Study.id).where(Study.id.in_(ids))}


async def sweep_orphan_study_folders(upload_dir: Path) -> int:
    """Remove study folders whose study row is gone; returns how many."""
    names = await asyncio.to_thread(_study_folder_names, upload_dir / file_storage.STUDIES_DIR)
    swept = 0
    for start in range(0, len(names), _SWEEP_CHUNK):
        chunk = names[start:start + _SWEEP_CHUNK]
        existing = await _existing_study_ids(chunk)
        for name in chunk:
            if name not in existing and await asyncio.to_thread(
                    remove_folder, study_folder(upload_dir, name)):
                swept += 1
    return swept
