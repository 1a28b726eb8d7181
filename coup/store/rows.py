"""Rows in the shapes Peewee hands back, typed.

Model instances from plain SQL rows, for the few hot queries that skip Peewee's query builder:
building a query with Peewee costs more CPU than running it on this machine (bench scenario c:
the token lookup of every WebSocket connect). Those queries are plain SQL; these helpers keep
their column lists and their results tied to the models, so a column added to a model is
selected and converted like any other.

And the rows whose shape Peewee decides at run time, which its stubs type as the model: the
tuples of `.tuples()`, the dicts of `.dicts()`, and a value a query selected under an alias
(Peewee sets it as an attribute of the row). These are the type checker's one allowance for
Peewee's dynamic rows (setup.cfg [mypy]): the values are Any, the row shapes are exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

import peewee

from coup.store.models import BaseModel

M = TypeVar("M", bound=BaseModel)


def column_list(model: type[peewee.Model], alias: str) -> str:
    """`alias.col1, alias.col2, ...` in the order of the model's fields."""
    return ", ".join(f"{alias}.{field.column_name}" for field in model._meta.sorted_fields)


def model_from_row(model: type[M], values: Sequence[Any]) -> M:
    """An instance built from values in column_list order, converted as Peewee converts them."""
    instance = model(__no_default__=True)
    data = instance.__data__
    for field, value in zip(model._meta.sorted_fields, values, strict=True):
        data[field.name] = None if value is None else field.python_value(value)
    instance._dirty.clear()
    return instance


def field_count(model: type[peewee.Model]) -> int:
    return len(model._meta.sorted_fields)


def tuple_rows(query: peewee.SelectBase) -> Iterator[tuple[Any, ...]]:
    """The rows of `query.tuples()`, one tuple of the selected values each."""
    return cast("Iterator[tuple[Any, ...]]", iter(query.tuples()))


def tuple_row(query: peewee.SelectBase) -> tuple[Any, ...]:
    """The first row of `query.tuples()` (Peewee's `DoesNotExist` when there is none)."""
    return cast("tuple[Any, ...]", query.tuples().get())


def dict_rows(query: peewee.SelectBase) -> Iterator[dict[str, Any]]:
    """The rows of `query.dicts()`, one dict of the selected values by name each."""
    return cast("Iterator[dict[str, Any]]", iter(query.dicts()))


def selected(row: peewee.Model, alias: str) -> Any:
    """The value a query selected under `alias` for this row (`.alias(alias)` in the select)."""
    return getattr(row, alias)
