"""Counting refused records, so that a project's owners see what its clients send wrong.

A batch adds to per-(project, hour, endpoint, reason) counters in one upsert; a record is
counted for the project it names (the authenticated one for /import, its token's elsewhere).
Records whose project is unknown (no token, or a token of no project) cannot be counted for a
project: nobody's counters grow from them.

The reason is the refused field. Fields that name a property (`properties.<name>`,
`$set.<name>`…) are counted as `properties.*`, `$set.*`…: a client choosing property names
must not be able to add rows at will, nor leave text of its own in them.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

from django.db import connection
from django.utils import timezone

from projects.chunking import in_chunks
from projects.ingestion.outcome import Endpoint, RecordFailure
from projects.models import RefusedRecordCount

# The fields of fixed name under `properties.`; any other `properties.<name>` is a property.
_EVENT_FIELDS = frozenset(
    {
        "time",
        "distinct_id",
        "$insert_id",
        "token",
        "$device_id",
        "$user_id",
        "alias",
        "$identified_id",
        "$anon_id",
        "$distinct_ids",
        "$distinct_ids[0]",
        "$distinct_ids[1]",
    }
)
# The page shows the last 24 hours; a week is kept for looking back, then purged by the sweep.
REFUSAL_COUNTS_KEPT = timedelta(days=7)
_REASON_MAX_LENGTH = 100
_ROWS_PER_STATEMENT = 100


def refusal_reason(field: str) -> str:
    """The counted reason of a refused field: the field, its property name left out."""
    prefix, dot, name = field.partition(".")
    if dot and not (prefix == "properties" and name in _EVENT_FIELDS):
        field = f"{prefix}.*"
    return field[:_REASON_MAX_LENGTH]


def refusals_count(
    *, endpoint: Endpoint, failures: Iterable[RecordFailure], now: datetime | None = None
) -> int:
    """Adds the batch's refused records to their projects' counters, in one statement; returns
    how many were counted."""
    counts = Counter(
        (failure.project_id, refusal_reason(failure.field))
        for failure in failures
        if failure.project_id is not None
    )
    if not counts:
        return 0
    hour = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    by_name = {field.name: field for field in RefusedRecordCount._meta.concrete_fields}
    fields = [by_name[name] for name in ("project", "hour", "endpoint", "reason", "count")]
    quote = connection.ops.quote_name
    table = quote(RefusedRecordCount._meta.db_table)
    # Concrete fields always have a column (django-stubs types it optional).
    columns = [quote(cast(str, field.column)) for field in fields]
    count_column = columns[-1]
    conflict = (
        f"ON CONFLICT ({', '.join(columns[:-1])}) "
        f"DO UPDATE SET {count_column} = {table}.{count_column} + EXCLUDED.{count_column}"
    )
    # In key order: concurrent batches lock the counters they share in the same order. One
    # statement for a batch of one project (a few reasons); a /track batch naming hundreds of
    # projects takes one per _ROWS_PER_STATEMENT, within every database's parameter limit.
    keyed = sorted(counts.items())
    with connection.cursor() as cursor:
        for chunk in in_chunks(keyed, _ROWS_PER_STATEMENT):
            params: list = []
            for (project_id, reason), count in chunk:
                values = (project_id, hour, str(endpoint), reason, count)
                params.extend(
                    field.get_db_prep_save(value, connection)
                    for field, value in zip(fields, values, strict=True)
                )
            rows = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(chunk))
            # Built from the model's metadata only; every value is a bound parameter.
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {rows} {conflict}"  # noqa: S608
            cursor.execute(sql, params)
    return sum(counts.values())


def refusal_counts_purge(*, now: datetime) -> int:
    """Deletes the counters of hours older than REFUSAL_COUNTS_KEPT; returns how many."""
    deleted, _ = RefusedRecordCount.objects.filter(hour__lt=now - REFUSAL_COUNTS_KEPT).delete()
    return deleted
