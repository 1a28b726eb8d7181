"""Model instances from plain SQL rows, for the few hot queries that skip Peewee's query builder.

Building a query with Peewee costs more CPU than running it on this machine (bench scenario c:
the token lookup of every WebSocket connect). Those queries are plain SQL; these helpers keep
their column lists and their results tied to the models, so a column added to a model is
selected and converted like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import peewee

M = TypeVar("M", bound=peewee.Model)


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
