"""Expired events (a project's "keep events for N months", issue 20): which ones, and their
removal in bounded batches. The run that drives the batches, its progress and its audit entry
live in privacy_requests.retention.

Why batched deletes and not monthly partitions: measured by `manage.py bench_retention`
(benchmarks/retention.py; figures in docs/design.md), partitions by month made the per-subject
reads and deletes of every privacy request slower, which the rule of issue 20 forbids.

A batch walks the project's distinct_ids in order through the events' (project, distinct_id,
time, ...) index, one index probe an id (a skip scan), and learns each id's oldest event on the
way; then it deletes the expired events of the walked ids that have any, with
`project_id = … AND distinct_id = ANY(…) AND time < cutoff`, the shape every delete of the
store has (routed to the ids' shards on Citus). At most `max_rows` events go in one statement:
a chunk over the cap is halved, and one id over it alone is cut in time slices. The caller
keeps `resume_after` (every id up to it is done) to resume after a crash. On Citus the walk,
a recursive CTE, runs in single-shard queries only (docs/design.md, "Event retention").
"""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Min

from projects.models import Event

EVENT_TABLE = Event._meta.db_table
KEEP_EVENTS_MONTHS_MAX = 120


def retention_cutoff(*, now: datetime, months: int) -> datetime:
    """Midnight UTC of today, `months` calendar months ago (the 31st of a shorter month is its
    last day): events before it are expired, events at it or later are kept. A whole day, so
    the cutoff moves once a day and a daily run has something to do."""
    today = now.astimezone(UTC)
    month_index = today.year * 12 + (today.month - 1) - months
    year, month = divmod(month_index, 12)
    day = min(today.day, calendar.monthrange(year, month + 1)[1])
    return datetime(year, month + 1, day, tzinfo=UTC)


@dataclass(frozen=True)
class RetentionBatch:
    removed: int
    # Every distinct_id up to this one (in the index's order) has no expired event left;
    # None when no id is done yet.
    resume_after: str | None
    finished: bool


def expired_events_delete_batch(
    *,
    project_id: int,
    cutoff: datetime,
    resume_after: str | None,
    walk_ids: int,
    max_rows: int,
    table: str = EVENT_TABLE,
) -> RetentionBatch:
    """Deletes the expired events of the next `walk_ids` distinct_ids after `resume_after`,
    at most `max_rows` of them; call inside the caller's transaction. `table` is for the
    benchmark, which runs these statements on its own copy of the events."""
    walked = _ids_walk(project_id=project_id, after=resume_after, limit=walk_ids, table=table)
    if not walked:
        return RetentionBatch(removed=0, resume_after=resume_after, finished=True)
    finished = len(walked) < walk_ids
    end = len(walked)  # walked[:end] are this batch's ids
    expired = [index for index, (_, oldest) in enumerate(walked) if oldest < cutoff]
    while expired:
        ids = [walked[index][0] for index in expired]
        if _count_capped(project_id, ids, cutoff, max_rows + 1, table) <= max_rows:
            break
        if len(expired) == 1:
            # One id with more expired events than a statement may take: its oldest slice.
            before = walked[expired[0] - 1][0] if expired[0] else resume_after
            removed = _slice_delete(project_id, ids[0], cutoff, max_rows, table)
            return RetentionBatch(removed=removed, resume_after=before, finished=False)
        finished = False
        keep = len(expired) // 2
        end = expired[keep]
        expired = expired[:keep]
    removed = 0
    if expired:
        ids = [walked[index][0] for index in expired]
        removed = _execute(
            f"DELETE FROM {table} WHERE {_EXPIRED_OF_IDS}",  # noqa: S608 - a constant table
            [project_id, ids, cutoff],
            orm=lambda: Event.objects.filter(
                project_id=project_id, distinct_id__in=ids, time__lt=cutoff
            ).delete()[0],
        )
    done_up_to = walked[end - 1][0] if end else resume_after
    return RetentionBatch(removed=removed, resume_after=done_up_to, finished=finished)


_EXPIRED_OF_IDS = "project_id = %s AND distinct_id = ANY(%s) AND time < %s"

# A skip scan: each step is one probe of the (project, distinct_id, time) index for the next
# id and its oldest event, instead of reading every event of the ids.
_WALK_SQL = """
WITH RECURSIVE walk AS (
    (SELECT distinct_id, time AS oldest FROM {table}
     WHERE project_id = %(project)s AND distinct_id {first} %(after)s
     ORDER BY distinct_id, time LIMIT 1)
    UNION ALL
    SELECT next.distinct_id, next.oldest FROM walk CROSS JOIN LATERAL (
        SELECT e.distinct_id, e.time AS oldest FROM {table} AS e
        WHERE e.project_id = %(project)s AND e.distinct_id > walk.distinct_id
        ORDER BY e.distinct_id, e.time LIMIT 1
    ) AS next
)
SELECT distinct_id, oldest FROM walk LIMIT %(limit)s
"""


def _ids_walk(
    *, project_id: int, after: str | None, limit: int, table: str
) -> list[tuple[str, datetime]]:
    if connection.vendor == "postgresql":
        sql = _WALK_SQL.format(table=table, first=">=" if after is None else ">")
        with connection.cursor() as cursor:
            cursor.execute(sql, {"project": project_id, "after": after or "", "limit": limit})
            return [(distinct_id, oldest) for distinct_id, oldest in cursor.fetchall()]
    events = Event.objects.filter(project_id=project_id)
    if after is not None:
        events = events.filter(distinct_id__gt=after)
    rows = (
        events.values("distinct_id")
        .annotate(oldest=Min("time"))
        .order_by("distinct_id")
        .values_list("distinct_id", "oldest")[:limit]
    )
    return list(rows)


def _count_capped(
    project_id: int, ids: Sequence[str], cutoff: datetime, cap: int, table: str
) -> int:
    """How many expired events these ids have, counting no further than `cap`."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {table} "  # noqa: S608 - a constant table
                f"WHERE {_EXPIRED_OF_IDS} LIMIT %s) AS capped",
                [project_id, list(ids), cutoff, cap],
            )
            return cursor.fetchone()[0]
    expired = Event.objects.filter(project_id=project_id, distinct_id__in=ids, time__lt=cutoff)
    return len(expired.values_list("time", flat=True)[:cap])


def _slice_delete(
    project_id: int, distinct_id: str, cutoff: datetime, max_rows: int, table: str
) -> int:
    """Deletes about `max_rows` of this id's oldest expired events: those before the time of
    its (max_rows + 1)th, or all those at its oldest instant when that many share it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT time FROM {table} WHERE project_id = %s AND distinct_id = %s "  # noqa: S608 - a constant table
                "AND time < %s ORDER BY time OFFSET %s LIMIT 1",
                [project_id, distinct_id, cutoff, max_rows],
            )
            row = cursor.fetchone()
    else:
        times = Event.objects.filter(
            project_id=project_id, distinct_id=distinct_id, time__lt=cutoff
        ).order_by("time")
        found = times.values_list("time", flat=True)[max_rows : max_rows + 1]
        row = (found[0],) if found else None
    boundary = row[0] if row else cutoff
    statement = f"DELETE FROM {table} WHERE {_EXPIRED_OF_IDS}"  # noqa: S608 - a constant table
    removed = _execute(
        statement,
        [project_id, [distinct_id], boundary],
        orm=lambda: Event.objects.filter(
            project_id=project_id, distinct_id=distinct_id, time__lt=boundary
        ).delete()[0],
    )
    if removed == 0:  # more than max_rows events at the oldest instant: take them together
        removed = _execute(
            statement.replace("time < %s", "time = %s"),
            [project_id, [distinct_id], boundary],
            orm=lambda: Event.objects.filter(
                project_id=project_id, distinct_id=distinct_id, time=boundary
            ).delete()[0],
        )
    return removed


def _execute(sql: str, params: list, *, orm) -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
    return orm()
