"""Offset pagination (COUP.md §1 item 7): read `page`/`limit`, page a query, describe the page.

Handlers call `parse_page` on the raw query strings; store functions call `paginate` on a
query inside their worker thread and return a `Page`; handlers answer with
`ok(page.items, pagination=pagination_view(request, page.total))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import peewee

from coup.errors import ValidationError
from coup.validation import parse_query_int

T = TypeVar("T")
M = TypeVar("M", bound=peewee.Model)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Beyond this page the offset scan gets expensive and no client needs it.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class PageRequest:
    """Which page a caller asked for: 1-based `page`, `limit` rows per page."""

    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows and the total number of rows over every page."""

    items: list[T]
    total: int


def parse_page(page: str | None, limit: str | None, *,
               default_limit: int = DEFAULT_LIMIT) -> PageRequest:
    """Read `page` and `limit`; both failing fields are reported at once."""
    problems: dict[str, str] = {}
    values: dict[str, int] = {}
    for name, raw, default, high in (("page", page, 1, MAX_PAGE),
                                     ("limit", limit, default_limit, MAX_LIMIT)):
        try:
            values[name] = parse_query_int(raw, name, default, 1, high)
        except ValidationError as exc:
            problems.update(exc.fields or {})
    if problems:
        raise ValidationError(problems)
    return PageRequest(values["page"], values["limit"])


@overload
def paginate(query: peewee.ModelSelect[M], request: PageRequest) -> Page[M]: ...
@overload
def paginate(query: peewee.Select, request: PageRequest) -> Page[Any]: ...
def paginate(query: peewee.Select, request: PageRequest) -> Page[Any]:
    """Run `query` for one page, plus a count of all its rows (call on a database worker)."""
    counted = query.order_by()
    # Peewee keeps a query's GROUP BY and DISTINCT in attributes its stubs leave out.
    clauses = vars(counted)
    if not clauses["_group_by"] and not clauses["_distinct"]:
        # Counting needs no columns: skip per-row subqueries in the select list.
        counted = counted.select(peewee.SQL("1"))
    total = counted.count()
    if total <= request.offset:
        return Page([], total)
    return Page(list(query.limit(request.limit).offset(request.offset)), total)


def pagination_view(request: PageRequest, total: int) -> dict[str, Any]:
    total_pages = -(-total // request.limit)
    return {
        "page": request.page,
        "limit": request.limit,
        "total": total,
        "total_pages": total_pages,
        "has_next": request.page < total_pages,
        "has_prev": request.page > 1,
    }
