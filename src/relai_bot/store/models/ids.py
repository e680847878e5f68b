"""The primary key of a row that is known to be in the database."""

from __future__ import annotations

from typing import Protocol


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: _Row) -> int:
    """`row.id` as an int: tables type it `int | None` (None until the INSERT), a loaded or flushed row has it."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: add and flush it first")
    return row.id
