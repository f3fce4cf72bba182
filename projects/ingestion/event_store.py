"""The one INSERT behind a batch of events. Of records with the same dedupe key `(project,
distinct_id, time, name, insert_id)` the latest ingested wins, as in Mixpanel: within a batch the
last copy is kept, and a stored row is overwritten by a later copy (`ON CONFLICT ... DO UPDATE`,
skipped when the copy is identical, so that a retried batch rewrites nothing).

PostgreSQL gets one `INSERT ... SELECT FROM json_to_recordset(<the batch as one JSON
document>)`: one bind parameter whatever the batch size, so the statement is cheap to build
(a VALUES list of 2,000 rows has 16,000 parameters, and building it with the driver's
client-side binding costs more than running it; so do per-column arrays).
Other databases get multi-row VALUES statements, as many rows each as their bind-parameter
limit allows (a whole batch on any SQLite of the last years).
"""

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from projects.chunking import in_chunks
from projects.models import Event

EVENT_COLUMNS = (
    "project",
    "distinct_id",
    "name",
    "time",
    "insert_id",
    "properties",
    "source",
    "ingested_at",
)


# The dedupe key, as the unique constraint `event_dedupe_and_subject_lookup` orders it.
_KEY_COLUMNS = ("project", "distinct_id", "time", "name", "insert_id")
# What a later copy of a record replaces.
_REPLACED_COLUMNS = ("properties", "source", "ingested_at")


def events_store(*, rows: Sequence[tuple[Any, ...]]) -> int:
    """Inserts event rows (values in EVENT_COLUMNS order, the project as its id), a later copy
    of a stored record replacing it; returns how many rows were written (new or replaced)."""
    # A dict keeps the last value of a key: the latest copy within the batch wins (PostgreSQL
    # also refuses to update one row twice in one statement). In key order, so that concurrent
    # batches lock the rows they both replace in the same order, never in opposite orders.
    latest = {(row[0], row[1], row[3], row[2], row[4]): row for row in rows}
    unique = [latest[key] for key in sorted(latest)]
    if not unique:
        return 0
    if connection.vendor == "postgresql":
        return _insert_recordset(unique)
    return _insert_values(unique)


def _on_conflict() -> str:
    """`ON CONFLICT (<dedupe key>) DO UPDATE` the replaced columns, unless they are equal."""
    quote = connection.ops.quote_name
    table = quote(Event._meta.db_table)
    key = ", ".join(quote(Event._meta.get_field(name).column) for name in _KEY_COLUMNS)
    replaced = [quote(Event._meta.get_field(name).column) for name in _REPLACED_COLUMNS]
    assignments = ", ".join(f"{column} = EXCLUDED.{column}" for column in replaced)
    # jsonb compares by value; SQLite compares the stored JSON text, equal for equal records.
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    changed = " OR ".join(
        f"{table}.{column} {distinct} EXCLUDED.{column}" for column in replaced[:-1]
    )
    return f" ON CONFLICT ({key}) DO UPDATE SET {assignments} WHERE {changed}"


def _fields() -> list:
    return [Event._meta.get_field(name) for name in EVENT_COLUMNS]


def _insert_head(fields: list) -> str:
    """`INSERT INTO <table> (<columns>) `, from the model's metadata only."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    return f"INSERT INTO {quote(Event._meta.db_table)} ({columns}) "


def _insert_recordset(rows: list[tuple[Any, ...]]) -> int:
    fields = _fields()
    # One JSON document holds the batch: json.dumps builds it in C, and the driver quotes it as
    # one string; properties stay nested JSON and land in the jsonb column unchanged.
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
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    record_type = ", ".join(
        f"{connection.ops.quote_name(field.column)} {field.db_type(connection)}" for field in fields
    )
    # Built from the model's metadata only; the batch is one bound parameter.
    select = f"SELECT {columns} FROM json_to_recordset(%s::json) AS batch({record_type})"  # noqa: S608
    sql = _insert_head(fields) + select + _on_conflict()
    with connection.cursor() as cursor:
        cursor.execute(sql, [document])
        return max(cursor.rowcount, 0)


def _insert_values(rows: list[tuple[Any, ...]]) -> int:
    fields = _fields()
    row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    inserted = 0
    with connection.cursor() as cursor:
        for chunk in in_chunks(rows, max(1, _max_query_params() // len(fields))):
            params = [
                field.get_db_prep_save(value, connection)
                for row in chunk
                for field, value in zip(fields, row, strict=True)
            ]
            values = ", ".join([row_placeholder] * len(chunk))
            sql = _insert_head(fields) + f"VALUES {values}" + _on_conflict()
            cursor.execute(sql, params)
            inserted += max(cursor.rowcount, 0)
    return inserted


def _max_query_params() -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 1000
