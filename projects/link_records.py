"""The one statement behind a call's identity link records (`IdentityLinkRecord`).

A record is keyed by (project, distinct_id, canonical_id, kind, authenticated, outcome): a
repeat of the same request with the same outcome adds to `count` and moves `last_seen_at`,
keeping the first `insert_id` and `first_seen_at`, so an SDK that sends its device link with
every event adds no row per batch. The upsert returns the id of every key, which the cluster
rows a call forms point at.

PostgreSQL gets one `INSERT ... SELECT FROM json_to_recordset(<the rows as one JSON document>)
... ON CONFLICT DO UPDATE ... RETURNING`, one bind parameter whatever the batch size (as the
event store does); other databases get multi-row VALUES statements within their bind-parameter
limit.
"""

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field

from projects.chunking import in_chunks
from projects.models import IdentityLinkRecord

# (distinct_id, canonical_id, kind, authenticated, outcome)
RecordKey = tuple[str, str, str, bool, str]

_COLUMNS = (
    "project",
    "distinct_id",
    "canonical_id",
    "kind",
    "authenticated",
    "outcome",
    "reason",
    "endpoint",
    "principal",
    "insert_id",
    "first_seen_at",
    "last_seen_at",
    "count",
)
_KEY_COLUMNS = ("project", "distinct_id", "canonical_id", "kind", "authenticated", "outcome")


@dataclass(frozen=True, slots=True)
class RecordRow:
    key: RecordKey
    reason: str
    endpoint: str
    principal: str
    insert_id: str
    seen_at: datetime


def link_records_upsert(*, project_id: int, rows: Sequence[RecordRow]) -> dict[RecordKey, int]:
    """Stores the rows (repeats of a key within the call add up); returns the record id of
    every key."""
    merged: dict[RecordKey, list[Any]] = {}
    for row in rows:
        values = merged.get(row.key)
        if values is None:
            merged[row.key] = [
                project_id,
                *row.key,
                row.reason,
                row.endpoint,
                row.principal,
                row.insert_id,
                row.seen_at,
                row.seen_at,
                1,
            ]
            continue
        values[6] = row.reason  # the latest reason
        values[9] = values[9] or row.insert_id
        values[11] = row.seen_at
        values[12] += 1
    if not merged:
        return {}
    # In key order, so that concurrent upserts lock shared rows in the same order.
    ordered = [merged[key] for key in sorted(merged)]
    if connection.vendor == "postgresql":
        returned = _upsert_recordset(ordered)
    else:
        returned = _upsert_values(ordered)
    return {
        (distinct_id, canonical_id, kind, bool(authenticated), outcome): record_id
        for record_id, distinct_id, canonical_id, kind, authenticated, outcome in returned
    }


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(name: str) -> str:
    """The quoted column of a concrete field."""
    field = IdentityLinkRecord._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{name} is not a column of IdentityLinkRecord")
    return _quote(field.column)


def _fields() -> list:
    return [IdentityLinkRecord._meta.get_field(name) for name in _COLUMNS]


def _statement_parts() -> tuple[str, str, str]:
    """The INSERT head, the ON CONFLICT clause and the RETURNING clause, from the model's
    metadata only."""
    table = _quote(IdentityLinkRecord._meta.db_table)
    columns = ", ".join(_quote(field.column) for field in _fields())
    key = ", ".join(_column(name) for name in _KEY_COLUMNS)
    count, reason, last_seen = (_column(name) for name in ("count", "reason", "last_seen_at"))
    conflict = (
        f" ON CONFLICT ({key}) DO UPDATE SET {count} = {table}.{count} + EXCLUDED.{count}, "
        f"{reason} = EXCLUDED.{reason}, {last_seen} = EXCLUDED.{last_seen}"
    )
    returning = " RETURNING " + ", ".join(
        _column(name)
        for name in ("id", "distinct_id", "canonical_id", "kind", "authenticated", "outcome")
    )
    return f"INSERT INTO {table} ({columns}) ", conflict, returning


def _upsert_recordset(rows: list[list[Any]]) -> list[tuple]:
    fields = _fields()
    document = json.dumps(
        [
            {
                field.column: value.isoformat() if isinstance(value, datetime) else value
                for field, value in zip(fields, row, strict=True)
            }
            for row in rows
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    columns = ", ".join(_quote(field.column) for field in fields)
    record_type = ", ".join(
        f"{_quote(field.column)} {field.db_type(connection)}" for field in fields
    )
    head, conflict, returning = _statement_parts()
    # Built from the model's metadata only; the rows are one bound parameter.
    select = f"SELECT {columns} FROM json_to_recordset(%s::json) AS batch({record_type})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(head + select + conflict + returning, [document])
        return list(cursor.fetchall())


def _upsert_values(rows: list[list[Any]]) -> list[tuple]:
    fields = _fields()
    head, conflict, returning = _statement_parts()
    row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returned: list[tuple] = []
    with connection.cursor() as cursor:
        for chunk in in_chunks(rows, max(1, _max_query_params() // len(fields))):
            params = [
                field.get_db_prep_save(value, connection)
                for row in chunk
                for field, value in zip(fields, row, strict=True)
            ]
            values = ", ".join([row_placeholder] * len(chunk))
            cursor.execute(head + f"VALUES {values}" + conflict + returning, params)
            returned.extend(cursor.fetchall())
    return returned


def _max_query_params() -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 1000
