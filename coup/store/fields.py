"""Field types shared by the models: random string ids, JSON, enum strings.

`utcnow` lives on the ground floor (coup/localtime.py); it is named here too for the store
modules that take it from here."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

import peewee

from coup.localtime import utcnow as utcnow

ID_MAX_LENGTH = 32
ENUM_MAX_LENGTH = 32


def new_id() -> str:
    """A fresh primary key: 16 random bytes (128 bits) as 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


def dumps_json(value: Any) -> str:
    """Serialise for storage; Korean text stays readable in the database."""
    return json.dumps(value, ensure_ascii=False)


class IdField(peewee.CharField):
    """The `id` primary key of §4.1: a server-generated random string."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", ID_MAX_LENGTH)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("default", new_id)
        super().__init__(**kwargs)


class JSONField(peewee.JSONField):
    """A JSON value: JSONB on PostgreSQL, JSON text on SQLite.

    Peewee 4's own JSONField already does the dialect work (psycopg2 hands back jsonb decoded,
    SQLite hands back text that is parsed) and brings the JSON path and containment operators;
    this subclass only fixes the serialiser so non-ASCII text is stored as is.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dumps", dumps_json)
        super().__init__(**kwargs)


class EnumField(peewee.CharField):
    """A string column holding one value of an enum of §4.2.

    `values` is kept on the field for the application and the tests; the column carries the
    matching CHECK constraint (in the migrations, and in `create_tables` via `bind`).
    """

    def __init__(self, values: Sequence[str], **kwargs: Any) -> None:
        kwargs.setdefault("max_length", ENUM_MAX_LENGTH)
        self.values: tuple[str, ...] = tuple(values)
        super().__init__(**kwargs)
        self._declared_constraints = list(self.constraints or [])

    def bind(self, model: type[peewee.Model], name: str, set_attribute: bool = True) -> None:
        super().bind(model, name, set_attribute)
        listed = ", ".join(f"'{value}'" for value in self.values)
        # Rebuilt on every bind (a subclass re-binds a copy), so the CHECK is never doubled.
        check = peewee.Check(f'"{self.column_name}" IN ({listed})')
        self.constraints = [*self._declared_constraints, check]
