"""The one INSERT behind a batch of events. Of records with the same dedupe key `(project,
distinct_id, time, name, insert_id)` the latest ingested wins, as in Mixpanel: within a batch the
last copy is kept, and a stored row is overwritten by a later copy (`ON CONFLICT ... DO UPDATE`,
skipped when the copy is identical, so that a retried batch rewrites nothing).

PostgreSQL gets a batch of new records (a fresh import: the usual case) by one COPY straight
into the table, under a savepoint: half the database's time of the staged way below (17-20 ms
against 25-34 for 2,000 events). If a record's key is already stored (a retry, a later copy,
a concurrent batch's), the COPY fails on the key, rolls back to its savepoint and the batch
goes the staged way, which decides per record.

The staged way: COPY into a temporary staging table, then one `INSERT ... SELECT ... ON
CONFLICT` from it. Measured on a batch of 2,000 events (bench_ingest's), this takes about
20 ms of the database's time where the former single `INSERT ... SELECT FROM
json_to_recordset(<the batch as one JSON document>)` took 27-36 ms: json_to_recordset builds a
lookup table for every object it turns into a row, which cost more than storing the rows
(EXPLAIN ANALYZE: 16 of 27 ms), while COPY's text format parses each column in place (7 ms)
and the INSERT from the staged rows takes 12-13 ms. A VALUES list or per-column arrays cost
more still, in building their parameters.
Other databases get multi-row VALUES statements, as many rows each as their bind-parameter
limit allows (a whole batch on any SQLite of the last years).
"""

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from django.db import connection, transaction
from psycopg.errors import UniqueViolation

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
# PostgreSQL: the temporary table a batch is COPYed into, and its column of the batch's order.
_STAGE_TABLE = "ingestion_event_stage"
_STAGE_POSITION = "batch_position"
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


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
        return _insert_copied(unique)
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


def _insert_copied(rows: list[tuple[Any, ...]]) -> int:
    """COPY straight into the table when no record of the batch is stored yet; the staged way
    when one is (module docstring). COPY inserts in the batch's key order, as the staged
    INSERT does, so concurrent batches wait for each other's keys in one order."""
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _fields())
    table = connection.ops.quote_name(Event._meta.db_table)
    # Without a transaction of the caller's, the fallback's COPY and INSERT need one too.
    with transaction.atomic(savepoint=False):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(_copy_lines(rows, positions=False))
        except UniqueViolation:
            return _insert_staged(rows)
        return len(rows)


def _insert_staged(rows: list[tuple[Any, ...]]) -> int:
    fields = _fields()
    quote = connection.ops.quote_name
    stage = quote(_STAGE_TABLE)
    position = quote(_STAGE_POSITION)
    columns = ", ".join(quote(field.column) for field in fields)
    definitions = ", ".join(
        f"{quote(field.column)} {field.db_type(connection)}" for field in fields
    )
    # Built from the model's metadata only; the rows travel by COPY, never in the SQL text.
    # One round trip: the stage is made once per database session (a pooler's reset or a
    # rolled-back transaction drops it, hence IF NOT EXISTS every time); every commit empties it
    # (ON COMMIT DELETE ROWS), and the DELETE a use earlier in the same transaction.
    prepare = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({definitions}, {position} integer) "  # noqa: S608
        f"ON COMMIT DELETE ROWS; DELETE FROM {stage}"
    )
    # In the batch's (key) order, whatever the order in which the stage gives its rows back.
    select = f"SELECT {columns} FROM {stage} ORDER BY {position}"  # noqa: S608
    insert = _insert_head(fields) + select + _on_conflict()
    # Without a transaction of the caller's, the COPY and the INSERT need one of their own: a
    # commit between them would empty the stage.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(prepare)
        with cursor.copy(f"COPY {stage} ({columns}, {position}) FROM STDIN") as copy:
            copy.write(_copy_lines(rows))
        cursor.execute(insert)
        return max(cursor.rowcount, 0)


def _copy_lines(rows: list[tuple[Any, ...]], *, positions: bool = True) -> str:
    """The rows in COPY's text format, each followed by its position unless not `positions`.
    Column by column, in EVENT_COLUMNS order: the id, text, the times in ISO 8601, the
    properties as JSON."""
    # A batch repeats its names, sources and distinct_ids: each is escaped once (not so its
    # $insert_ids), and its one ingested_at formatted once.
    text = _CopyTexts()
    stamps: dict[datetime, str] = {}
    lines = []
    for position, row in enumerate(rows):
        project_id, distinct_id, name, time, insert_id, properties, source, ingested = row
        stamp = stamps.get(ingested)
        if stamp is None:
            stamp = stamps[ingested] = ingested.isoformat()
        # JSON text holds no raw tab or line break (control characters are escaped), so of
        # COPY's special characters only its backslashes need escaping.
        document = _json_text(properties).replace("\\", "\\\\")
        lines.append(
            f"{project_id}\t{text[distinct_id]}\t{text[name]}\t{time.isoformat()}\t"
            f"{_copy_text(insert_id)}\t{document}\t{text[source]}\t{stamp}"
            + (f"\t{position}\n" if positions else "\n")
        )
    return "".join(lines)


def _json_text(value: Any) -> str:
    """Compact JSON: orjson's (a fifth of the standard library's time), or the standard
    library's for what orjson refuses (an integer past 64 bits, read by the standard parser)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _JSON.encode(value)


def _copy_text(value: str) -> str:
    # COPY's text format: backslash escapes for the characters that delimit rows and columns.
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


class _CopyTexts(dict[str, str]):
    """Text values and their `_copy_text`, made on first use."""

    def __missing__(self, value: str) -> str:
        escaped = self[value] = _copy_text(value)
        return escaped


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
