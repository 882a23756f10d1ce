"""Page through long lists (contacts, calls, audit) 50 rows at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PER_PAGE = 50


@dataclass
class Page:
    items: list[Any]
    number: int
    total: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(query, page: str | None, per_page: int = PER_PAGE) -> Page:  # type: ignore[no-untyped-def]
    try:
        number = max(1, int(page or 1))
    except ValueError:
        number = 1
    total = query.count()
    items = list(query.paginate(number, per_page))
    return Page(items, number, total, per_page)
