"""System settings (COUP.md §11): seeded defaults, typed values and a short per-node cache."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import SystemSetting

log = logging.getLogger(__name__)

# Settings are read on hot paths (every login, every upload); a node may serve a value up to
# this old. A change made through the admin API clears the cache on every node.
CACHE_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class SettingSpec:
    category: str
    type: str
    default: Any
    low: float | None = None
    high: float | None = None
    description: str = ""


SETTING_SPECS: dict[str, SettingSpec] = {
    "site_name": SettingSpec("general", "STRING", "CoUp", 1, 50, "Site name"),
    "site_description": SettingSpec(
        "general", "STRING", "함께 공부하고 함께 성장하는 스터디 플랫폼", 0, 200, "Site description"
    ),
    "contact_email": SettingSpec("general", "STRING", "support@coup.example", 3, 255,
                                 "Contact address"),
    "min_password_length": SettingSpec("security", "NUMBER", 8, 8, 64, "Password minimum"),
    "max_login_attempts": SettingSpec("security", "NUMBER", 5, 3, 20,
                                      "Failures before a login lock"),
    "login_lockout_minutes": SettingSpec("security", "NUMBER", 15, 1, 1440,
                                         "Login failure window"),
    "session_ttl_days": SettingSpec("security", "NUMBER", 14, 1, 90, "Sliding session lifetime"),
    "enable_ip_blocking": SettingSpec("security", "BOOLEAN", True, description="Per-IP limit"),
    "enable_email_notification": SettingSpec("notification", "BOOLEAN", True,
                                             description="Reserved"),
    "enable_report_alert": SettingSpec("notification", "BOOLEAN", True, description="Reserved"),
    "enable_system_alert": SettingSpec("notification", "BOOLEAN", True, description="Reserved"),
    "allow_signup": SettingSpec("feature", "BOOLEAN", True, description="Sign-up switch"),
    "allow_study_creation": SettingSpec("feature", "BOOLEAN", True,
                                        description="Study creation switch"),
    "allow_file_upload": SettingSpec("feature", "BOOLEAN", True, description="Upload switch"),
    "max_file_size": SettingSpec("feature", "NUMBER", 10, 1, 100, "Upload cap in MB"),
    "max_study_members": SettingSpec("feature", "NUMBER", 100, 2, 1000,
                                     "Highest max_members"),
    "maintenance_mode": SettingSpec("feature", "BOOLEAN", False, description="Maintenance"),
}


def encode_value(spec: SettingSpec, value: Any) -> str:
    if spec.type == "BOOLEAN":
        return "true" if value else "false"
    if spec.type == "JSON":
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def decode_value(spec: SettingSpec, raw: str) -> Any:
    try:
        if spec.type == "BOOLEAN":
            return raw.strip().lower() == "true"
        if spec.type == "NUMBER":
            number = float(raw)
            return int(number) if number.is_integer() else number
        if spec.type == "JSON":
            return json.loads(raw)
        return raw
    except ValueError:
        log.warning("stored setting has a bad value %r; using the default", raw)
        return spec.default


class SettingsCache:
    """The effective settings of this node: defaults overlaid with the stored rows."""

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None
        self._loaded_at = 0.0

    async def get(self, key: str) -> Any:
        values = await self.all()
        return values[key]

    async def all(self) -> dict[str, Any]:
        if self._values is None or time.monotonic() - self._loaded_at > CACHE_TTL_SECONDS:
            self._values = await load_effective_settings()
            self._loaded_at = time.monotonic()
        return self._values

    def invalidate(self) -> None:
        self._values = None


@db_task
def load_effective_settings() -> dict[str, Any]:
    values = {key: spec.default for key, spec in SETTING_SPECS.items()}
    for row in SystemSetting.select(SystemSetting.key, SystemSetting.value):
        spec = SETTING_SPECS.get(row.key)
        if spec is not None:
            values[row.key] = decode_value(spec, row.value)
    return values


@db_transaction
def seed_settings() -> list[str]:
    """Insert the settings that are missing; returns the keys inserted. Never overwrites.

    Nodes starting together seed at the same time, so each insert ignores a key that another
    node inserted in between (ON CONFLICT DO NOTHING / INSERT OR IGNORE).
    """
    existing = {row.key for row in SystemSetting.select(SystemSetting.key)}
    inserted = []
    for key, spec in SETTING_SPECS.items():
        if key in existing:
            continue
        SystemSetting.insert(
            id=new_id(),
            category=spec.category,
            key=key,
            value=encode_value(spec, spec.default),
            type=spec.type,
            description=spec.description or None,
            updated_at=utcnow(),
        ).on_conflict_ignore().execute()
        inserted.append(key)
    return inserted


@db_transaction
def store_setting(key: str, value: Any, updated_by: str | None = None) -> None:
    spec = SETTING_SPECS[key]
    raw = encode_value(spec, value)
    updated = (
        SystemSetting.update(value=raw, updated_at=utcnow(), updated_by=updated_by)
        .where(SystemSetting.key == key)
        .execute()
    )
    if not updated:
        SystemSetting.create(
            id=new_id(), category=spec.category, key=key, value=raw, type=spec.type,
            description=spec.description or None, updated_at=utcnow(), updated_by=updated_by,
        )
