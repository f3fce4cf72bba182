"""The statements behind a batch's identity writes: the upsert of its link records
(`IdentityLinkRecord`), and the insert of the cluster rows it forms (`IdentityLink`).

A record is keyed by (project, distinct_id, canonical_id, kind, authenticated, outcome): a
repeat of the same request with the same outcome adds to `count` and moves `last_seen_at`,
keeping the first `insert_id` and `first_seen_at`, so an SDK that sends its device link with
every event adds no row per batch. The upsert returns the ids of the `formed` records, which the
cluster rows a call forms point at.

PostgreSQL gets one `INSERT ... SELECT FROM json_array_elements(<the rows as one JSON array of
arrays>)` for each: the rows are one bind parameter and the values the whole call shares
(project, provenance, time) one each, so building the statement costs little whatever the
batch size (as the event store does; Django's bulk_create spends more building its VALUES list
than PostgreSQL spends running it). Other databases get multi-row VALUES statements within
their bind-parameter limit.
"""

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Field, Model

from projects.chunking import in_chunks
from projects.models import IdentityLink, IdentityLinkRecord, LinkRecordOutcome
from projects.store_deletes import store_rows_update

# One link as a call records it: (distinct_id, canonical_id, kind, outcome, reason, insert_id).
RecordRow = tuple[str, str, str, str, str, str]
# A formed record's key within a call: (distinct_id, canonical_id, kind).
FormedKey = tuple[str, str, str]

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
_FORMED = str(LinkRecordOutcome.FORMED)
# Rows a root move rewrites per UPDATE ... CASE (two bind variables each): a whole cluster (at
# most 500 ids, identity.IDENTITY_CLUSTER_MAX_IDS) in one statement.
_MOVE_CHUNK = 500
# An `unchanged` record (a link already in place, asked for again: an SDK repeats its device
# link with every event) is written at most once in this interval: repeats within it of its
# last recorded sight cost an index probe, not a row version. Its `count` and `last_seen_at`
# are kept to this precision; every other outcome is counted exactly.
UNCHANGED_WRITE_INTERVAL = timedelta(minutes=1)


def link_records_upsert(
    *,
    project_id: int,
    authenticated: bool,
    endpoint: str,
    principal: str,
    seen_at: datetime,
    rows: Iterable[RecordRow],
) -> dict[FormedKey, int]:
    """Stores a call's records (repeats within the call add up; the latest reason wins);
    returns the id of every formed record by its key."""
    merged: dict[tuple[str, str, str, str], list[Any]] = {}
    for distinct_id, canonical_id, kind, outcome, reason, insert_id in rows:
        key = (distinct_id, canonical_id, kind, outcome)
        values = merged.get(key)
        if values is None:
            merged[key] = [reason, insert_id, 1]
        else:
            values[0] = reason
            values[1] = values[1] or insert_id
            values[2] += 1
    if not merged:
        return {}
    # In key order, so that concurrent upserts lock shared rows in the same order.
    ordered = [(*key, *merged[key]) for key in sorted(merged)]
    common = (project_id, authenticated, endpoint, principal, seen_at)
    if connection.vendor == "postgresql":
        returned = _upsert_json(ordered, common)
    else:
        returned = _upsert_values(ordered, common)
    return {
        (distinct_id, canonical_id, kind): record_id
        for record_id, distinct_id, canonical_id, kind, outcome in returned
        if outcome == _FORMED
    }


def _field(model: type[Model], name: str) -> Field:
    """A concrete field of the model, with a column."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{name} is not a column of {model.__name__}")
    return field


def _column(name: str, model: type[Model] = IdentityLinkRecord) -> str:
    return connection.ops.quote_name(str(_field(model, name).column))


def _clauses() -> tuple[str, str, str]:
    """`INSERT INTO <table> (<columns>) `, the ON CONFLICT clause and the RETURNING clause,
    from the model's metadata only."""
    table = connection.ops.quote_name(IdentityLinkRecord._meta.db_table)
    columns = ", ".join(_column(name) for name in _COLUMNS)
    key = ", ".join(_column(name) for name in _KEY_COLUMNS)
    count, reason, last_seen = (_column(name) for name in ("count", "reason", "last_seen_at"))
    outcome = _column("outcome")
    conflict = (
        f" ON CONFLICT ({key}) DO UPDATE SET {count} = {table}.{count} + EXCLUDED.{count}, "
        f"{reason} = EXCLUDED.{reason}, {last_seen} = EXCLUDED.{last_seen}"
        f" WHERE EXCLUDED.{outcome} <> '{LinkRecordOutcome.UNCHANGED.value}'"
        f" OR {table}.{last_seen} < %s"
    )
    returning = " RETURNING " + ", ".join(
        _column(name) for name in ("id", "distinct_id", "canonical_id", "kind", "outcome")
    )
    return f"INSERT INTO {table} ({columns}) ", conflict, returning


def _upsert_json(rows: list[tuple], common: tuple) -> list[tuple]:
    project_id, authenticated, endpoint, principal, seen_at = common
    document = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    head, conflict, returning = _clauses()
    # Column order as _COLUMNS; each row is [distinct_id, canonical_id, kind, outcome, reason,
    # insert_id, count]. Built from the model's metadata only; the rows are one parameter.
    select = (
        "SELECT %s, r->>0, r->>1, r->>2, %s, r->>3, r->>4, %s, %s, r->>5, %s, %s, "
        "(r->>6)::bigint FROM json_array_elements(%s::json) AS r"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            head + select + conflict + returning,
            [
                project_id,
                authenticated,
                endpoint,
                principal,
                seen_at,
                seen_at,
                document,
                seen_at - UNCHANGED_WRITE_INTERVAL,
            ],
        )
        return list(cursor.fetchall())


def _upsert_values(rows: list[tuple], common: tuple) -> list[tuple]:
    project_id, authenticated, endpoint, principal, seen_at = common
    fields = [_field(IdentityLinkRecord, name) for name in _COLUMNS]
    head, conflict, returning = _clauses()
    row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returned: list[tuple] = []
    with connection.cursor() as cursor:
        for chunk in in_chunks(rows, max(1, (_max_query_params() - 1) // len(fields))):
            params = [
                field.get_db_prep_save(value, connection)
                for distinct_id, canonical_id, kind, outcome, reason, insert_id, count in chunk
                for field, value in zip(
                    fields,
                    (
                        project_id,
                        distinct_id,
                        canonical_id,
                        kind,
                        authenticated,
                        outcome,
                        reason,
                        endpoint,
                        principal,
                        insert_id,
                        seen_at,
                        seen_at,
                        count,
                    ),
                    strict=True,
                )
            ]
            params.append(
                fields[-2].get_db_prep_save(seen_at - UNCHANGED_WRITE_INTERVAL, connection)
            )
            values = ", ".join([row_placeholder] * len(chunk))
            cursor.execute(head + f"VALUES {values}" + conflict + returning, params)
            returned.extend(cursor.fetchall())
    return returned


def _max_query_params() -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 1000


def identity_links_insert(
    *,
    project_id: int,
    authenticated: bool,
    created_at: datetime,
    rows: list[tuple[str, str, str, int | None]],
) -> None:
    """Inserts new cluster rows: (distinct_id, canonical_id, kind, record id)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        IdentityLink.objects.bulk_create(
            IdentityLink(
                project_id=project_id,
                distinct_id=distinct_id,
                canonical_id=canonical_id,
                kind=kind,
                created_at=created_at,
                authenticated=authenticated,
                record_id=record_id,
            )
            for distinct_id, canonical_id, kind, record_id in rows
        )
        return
    names = ("project", "distinct_id", "canonical_id", "kind", "created_at", "authenticated")
    columns = ", ".join(_column(name, IdentityLink) for name in (*names, "record"))
    head = f"INSERT INTO {connection.ops.quote_name(IdentityLink._meta.db_table)} ({columns}) "
    # Built from the model's metadata only; the rows are one bound parameter.
    select = (
        "SELECT %s, r->>0, r->>1, r->>2, %s, %s, (r->>3)::bigint "
        "FROM json_array_elements(%s::json) AS r"
    )
    document = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    with connection.cursor() as cursor:
        cursor.execute(head + select, [project_id, created_at, authenticated, document])


def identity_roots_move(*, project_id: int, moves: list[tuple[str, str]]) -> None:
    """Moves the rows of each merged-away root (old, new) to its new root, read first by their
    root; the caller's identity lock keeps them as read."""
    moved_to = dict(moves)
    members: list[tuple[str, str]] = []
    for roots in in_chunks(list(moved_to)):
        members += IdentityLink.objects.filter(
            project_id=project_id, canonical_id__any=roots
        ).values_list("distinct_id", "canonical_id")
    identity_links_repoint(
        project_id=project_id, roots=[(member, moved_to[root]) for member, root in members]
    )


def identity_links_repoint(*, project_id: int, roots: list[tuple[str, str]]) -> None:
    """Points each (distinct_id, root) row at its new root, changed by its own distinct_id
    (projects.store_deletes: what a store distributed on distinct_id routes)."""
    for chunk in in_chunks(roots, _MOVE_CHUNK):
        cases = " ".join(["WHEN %s THEN %s"] * len(chunk))
        store_rows_update(
            IdentityLink,
            project_id=project_id,
            distinct_ids=[distinct_id for distinct_id, _ in chunk],
            assignments=f'"canonical_id" = CASE "distinct_id" {cases} END',
            assignment_params=[value for pair in chunk for value in pair],
        )
