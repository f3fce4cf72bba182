"""Long id lists go to the database in chunks: one IN list of at most IN_LIST_CHUNK values per
query keeps every statement well under the bind-variable limits of SQLite (32,766) and
PostgreSQL (65,535), and a whole request of 2,000 ids takes two queries."""

from collections.abc import Iterator, Sequence
from typing import TypeVar

IN_LIST_CHUNK = 1000

_T = TypeVar("_T")


def in_chunks(values: Sequence[_T], size: int = IN_LIST_CHUNK) -> Iterator[list[_T]]:
    """Consecutive slices of `values`, each of at most `size` items, in order."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])
