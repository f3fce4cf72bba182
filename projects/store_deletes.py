"""Deletes and updates on the end-user data store, each routed by its distribution column.

A distributed store (Citus, its tables distributed on distinct_id: docs/scaling.md) routes a
statement to the shards of its ids only when the statement names them, so every DELETE and
UPDATE on events, profiles, identity links and link records here is
`WHERE project_id = %s AND distinct_id = ANY(%s) …` on PostgreSQL: one array parameter, where
the ORM would write an IN list of one parameter an id (SQLite gets that IN list). Rows found by
another column (link records that name a subject as `canonical_id`, links whose root is a
subject) are read first, then changed by their own distinct_ids.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Model

from projects.chunking import in_chunks
from projects.models import Event, Profile

_SQL = str
_Params = list[Any]


def any_of(column: str, values: Sequence[Any]) -> tuple[_SQL, _Params]:
    """`column = ANY(%s)` (one array parameter) on PostgreSQL, an IN list elsewhere."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _moment(value: datetime) -> Any:
    # As the ORM would send it (SQLite keeps naive UTC text, compared as text).
    return connection.ops.adapt_datetimefield_value(value)


def store_rows_delete(
    model: type[Model],
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    where: _SQL = "",
    params: Sequence[Any] = (),
) -> int:
    """DELETE FROM <model's table> WHERE project_id = %s AND distinct_id = ANY(%s) <where>;
    returns the rows deleted. `where` (starting with AND) is the caller's SQL, never input."""
    if not distinct_ids:
        return 0
    ids_sql, ids_params = any_of('"distinct_id"', distinct_ids)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM {table} WHERE "project_id" = %s AND {ids_sql} {where}',  # noqa: S608
            [project_id, *ids_params, *params],
        )
        return max(cursor.rowcount, 0)


def store_rows_update(
    model: type[Model],
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    assignments: _SQL,
    assignment_params: Sequence[Any] = (),
    where: _SQL = "",
    params: Sequence[Any] = (),
) -> int:
    """UPDATE <table> SET <assignments> WHERE project_id = %s AND distinct_id = ANY(%s)
    <where>; returns the rows changed. SQL fragments are the caller's, never input."""
    if not distinct_ids:
        return 0
    ids_sql, ids_params = any_of('"distinct_id"', distinct_ids)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} "  # noqa: S608
            f'WHERE "project_id" = %s AND {ids_sql} {where}',
            [*assignment_params, project_id, *ids_params, *params],
        )
        return max(cursor.rowcount, 0)


def profiles_properties_set(
    *,
    project_id: int,
    properties: Sequence[tuple[str, Any]],
    updated_at: datetime | None = None,
    chunk: int = 300,
) -> int:
    """Sets the properties of these people's profiles, (distinct_id, properties) each, by one
    UPDATE per `chunk` profiles (a CASE on distinct_id) that names their distinct_ids; with
    `updated_at`, sets it too. Returns the rows changed."""
    field = Profile._meta.get_field("properties")
    changed = 0
    for rows in in_chunks(list(properties), chunk):
        cases = " ".join(["WHEN %s THEN %s"] * len(rows))
        assignments = f'"properties" = CASE "distinct_id" {cases} END'
        values = [
            value
            for distinct_id, kept in rows
            for value in (distinct_id, field.get_db_prep_save(kept, connection))
        ]
        if updated_at is not None:
            assignments += ', "updated_at" = %s'
            values.append(_moment(updated_at))
        changed += store_rows_update(
            Profile,
            project_id=project_id,
            distinct_ids=[distinct_id for distinct_id, _ in rows],
            assignments=assignments,
            assignment_params=values,
        )
    return changed


def event_counts(*, project_id: int, distinct_ids: Sequence[str]) -> dict[str, int]:
    """How many events each of these ids has (ids without any are left out), whatever their
    `ingested_at`: the columns are all in the (project, distinct_id, time, …) index, so
    PostgreSQL counts them with an index-only scan. For sizing batches, not for reporting."""
    rows = (
        Event.objects.filter(project_id=project_id, distinct_id__any=distinct_ids)
        .order_by()
        .values("distinct_id")
        .annotate(events=Count("*"))
        .values_list("distinct_id", "events")
    )
    return dict(rows)


def event_slice_end(
    *, project_id: int, distinct_id: str, after: datetime | None, size: int
) -> datetime | None:
    """The time of the `size`-th event of this id after `after` (None: from its first), or
    None when it has fewer: the end of a time slice of about `size` events, found through the
    index (only the events at that very time can make the slice longer)."""
    events = Event.objects.filter(project_id=project_id, distinct_id=distinct_id)
    if after is not None:
        events = events.filter(time__gt=after)
    ends = list(events.order_by("time").values_list("time", flat=True)[size - 1 : size])
    return ends[0] if ends else None


def events_delete(
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    snapshot_at: datetime,
    after: datetime | None = None,
    through: datetime | None = None,
    sources: Sequence[str] | None = None,
) -> int:
    """Deletes these ids' events up to the snapshot, those with after < time <= through when
    given, of these sources when given; returns how many. One statement."""
    where = 'AND "ingested_at" <= %s'
    params: _Params = [_moment(snapshot_at)]
    if after is not None:
        where += ' AND "time" > %s'
        params.append(_moment(after))
    if through is not None:
        where += ' AND "time" <= %s'
        params.append(_moment(through))
    if sources is not None:
        sources_sql, sources_params = any_of('"source"', sources)
        where += f" AND {sources_sql}"
        params += sources_params
    return store_rows_delete(
        Event, project_id=project_id, distinct_ids=distinct_ids, where=where, params=params
    )
