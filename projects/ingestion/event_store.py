"""The one INSERT behind a batch of events, skipping rows already stored under the dedupe key
`(project, distinct_id, time, name, insert_id)`.

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


def events_store(*, rows: Sequence[tuple[Any, ...]]) -> int:
    """Inserts event rows (values in EVENT_COLUMNS order, the project as its id); returns how
    many were new."""
    unique = list({(row[0], row[1], row[3], row[2], row[4]): row for row in rows}.values())
    if not unique:
        return 0
    if connection.vendor == "postgresql":
        return _insert_recordset(unique)
    return _insert_values(unique)


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
    sql = _insert_head(fields) + select + " ON CONFLICT DO NOTHING"
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
            sql = _insert_head(fields) + f"VALUES {values} ON CONFLICT DO NOTHING"
            cursor.execute(sql, params)
            inserted += max(cursor.rowcount, 0)
    return inserted


def _max_query_params() -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 1000
