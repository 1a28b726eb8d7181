"""Uploaded avatars on disk (COUP.md §7.2, §7.19): where they live and how they are removed.

Served by coup/handlers/media.py; written and replaced by coup/handlers/users.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from coup.config import Settings

log = logging.getLogger(__name__)

AVATAR_URL_PREFIX = "/media/avatars/"
# The same shape as the /media/avatars route: `{user_id}_{epoch_ms}.{ext}`.
AVATAR_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}_[0-9]{1,16}\.(?:jpg|jpeg|png|gif|webp)")
def avatar_dir(settings: Settings) -> Path:
    return settings.upload_dir / "avatars"


def uploaded_avatar_path(settings: Settings, avatar: str | None) -> Path | None:
    """The file behind an uploaded avatar URL; None for an external URL or no avatar."""
    if not avatar or not avatar.startswith(AVATAR_URL_PREFIX):
        return None
    name = avatar.removeprefix(AVATAR_URL_PREFIX)
    if not AVATAR_FILE_NAME.fullmatch(name):
        return None
    return avatar_dir(settings) / name


async def delete_avatar_file(settings: Settings, avatar: str | None) -> None:
    """Remove an uploaded avatar's file; a failure is logged, never raised (the row is gone)."""
    path = uploaded_avatar_path(settings, avatar)
    if path is None:
        return
    try:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    except OSError as exc:
        log.warning("could not delete avatar file %s: %s", path.name, exc)
