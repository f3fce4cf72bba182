"""`manage.py bench_retention` (issue 20): should expired events go by dropping monthly
partitions, or by batched deletes? Partitions only if the privacy requests' per-subject reads
and deletes stay within 10% of today's table.

On a bench project of M generated events over the last two years (25 calendar months), it
builds two copies of the project's events, filled in `time` order as ingestion fills a table:
`bench_retention_plain`, today's layout (a primary key, the (project, distinct_id, time, name,
insert_id) index), and `bench_retention_monthly`, range-partitioned by month on `time`, one
partition a month, with the same indexes (the primary key must hold `time` there). Then, on
the same subjects, alternating which table goes first:
- reads: the export's query, the events of a chunk of distinct_ids in order, fetched whole;
- deletes: DELETE … WHERE project_id = $1 AND distinct_id = ANY($2), rolled back;
- the oldest whole month: DETACH and DROP its partition (rolled back), against the batches the
  sweep runs (projects.retention), committed one by one, then the same rows put back.
Medians in ms and the ratio partitioned / plain. The copies are reused by a rerun.
"""

import io
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.core.management import call_command
from django.db import connection, transaction

from benchmarks.errors import BenchRefused
from projects.models import Event, Project
from projects.retention import expired_events_delete_batch

BENCH_ORGANIZATION = "Retention benchmark"
BENCH_OWNER = "retention-bench@example.com"
PLAIN = "bench_retention_plain"
MONTHLY = "bench_retention_monthly"
WITHIN = 1.10  # partitions only if reads and deletes stay within 10% of today
COLUMNS = "id, project_id, distinct_id, name, time, insert_id, properties, source, ingested_at"

Say = Callable[[str], None]


def retention_bench_run(
    *, events: int, samples: int, chunk: int, walk_ids: int, max_rows: int, seed: int, say: Say
) -> None:
    if connection.vendor != "postgresql":
        raise BenchRefused(
            "bench_retention needs PostgreSQL: set DATABASE_URL=postgres://... "
            f"(this database is {connection.vendor})."
        )
    project = _bench_project(events=events, seed=seed, say=say)
    months = _copies_build(project=project, say=say)
    rng = random.Random(seed)  # noqa: S311 - picks bench subjects, guards nothing
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT distinct_id FROM {PLAIN} ORDER BY 1")  # noqa: S608
        every_id = [row[0] for row in cursor.fetchall()]
    say(f"{len(every_id):,} distinct_ids, {months} monthly partitions; {samples} samples each.")
    ratios = {}
    for label, size in (("1 subject", 1), (f"{chunk} subjects", chunk)):
        sets = [rng.sample(every_id, size) for _ in range(samples + 3)]
        read = _compare(project.id, sets, _read)
        ratios[f"read, {label}"] = _say_line(say, f"read, {label}", read)
        delete = _compare(project.id, sets, _delete_rolled_back)
        ratios[f"delete, {label}"] = _say_line(say, f"delete, {label}", delete)
    _month_removal(project=project, walk_ids=walk_ids, max_rows=max_rows, say=say)
    worst = max(ratios.values())
    verdict = "partitions" if worst <= WITHIN else "batched deletes from the sweep"
    say(
        f"Worst per-subject ratio {worst:.2f}x (rule: partitions only if <= {WITHIN:.2f}x): "
        f"{verdict}."
    )


def _read(table: str, project_id: int, ids: list[str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT distinct_id, name, time, insert_id, properties FROM {table} "  # noqa: S608
            "WHERE project_id = %s AND distinct_id = ANY(%s) "
            "ORDER BY distinct_id, time, name, insert_id",
            [project_id, ids],
        )
        cursor.fetchall()


def _delete_rolled_back(table: str, project_id: int, ids: list[str]) -> float:
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            f"DELETE FROM {table} WHERE project_id = %s AND distinct_id = ANY(%s)",  # noqa: S608
            [project_id, ids],
        )
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def _compare(project_id: int, sets: list[list[str]], run) -> dict[str, list[float]]:
    """Each set on both tables, the first three untimed (warm-up), alternating which goes
    first so that neither always finds the other's pages cached."""
    timings: dict[str, list[float]] = {PLAIN: [], MONTHLY: []}
    for number, ids in enumerate(sets):
        order = (PLAIN, MONTHLY) if number % 2 else (MONTHLY, PLAIN)
        for table in order:
            started = time.perf_counter()
            inner = run(table, project_id, ids)
            elapsed = inner if isinstance(inner, float) else time.perf_counter() - started
            if number >= 3:
                timings[table].append(elapsed * 1000)
    return timings


def _say_line(say: Say, name: str, timings: dict[str, list[float]]) -> float:
    plain = statistics.median(timings[PLAIN])
    monthly = statistics.median(timings[MONTHLY])
    ratio = monthly / plain
    say(
        f"  {name:<22} today {plain:8.2f} ms, monthly partitions {monthly:8.2f} ms "
        f"(median): {ratio:.2f}x"
    )
    return ratio


def _month_removal(*, project: Project, walk_ids: int, max_rows: int, say: Say) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
            [MONTHLY],
        )
        partitions = [row[0] for row in cursor.fetchall()]
    # The oldest whole month: the first partition holds only the end of its month.
    oldest = partitions[1]
    year, month = int(oldest[-7:-3]), int(oldest[-2:])
    start = datetime(year, month, 1, tzinfo=UTC)
    cutoff = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {oldest}")  # noqa: S608
        rows = cursor.fetchone()[0]
    say(f"Removing one month ({start:%Y-%m}, {rows:,} events):")
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(f"ALTER TABLE {MONTHLY} DETACH PARTITION {oldest}")
        cursor.execute(f"DROP TABLE {oldest}")
        dropped = (time.perf_counter() - started) * 1000
        transaction.set_rollback(True)  # kept for a rerun; the unlink at commit is not timed
    # What the sweep does on today's layout: only the rows before `cutoff` are left there from
    # the first partition's month and this one, so it removes both; the first is tiny.
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE bench_retention_removed AS SELECT {COLUMNS} FROM {PLAIN} "  # noqa: S608
            "WHERE project_id = %s AND time < %s",
            [project.id, cutoff],
        )
        removed_rows = cursor.rowcount
    batches, removed, slowest, resume_after = 0, 0, 0.0, None
    started = time.perf_counter()
    while True:
        batch_started = time.perf_counter()
        with transaction.atomic():
            batch = expired_events_delete_batch(
                project_id=project.id,
                cutoff=cutoff,
                resume_after=resume_after,
                walk_ids=walk_ids,
                max_rows=max_rows,
                table=PLAIN,
            )
        slowest = max(slowest, time.perf_counter() - batch_started)
        batches += 1
        removed += batch.removed
        resume_after = batch.resume_after
        if batch.finished:
            break
    deleted = (time.perf_counter() - started) * 1000
    if removed != removed_rows:
        raise BenchRefused(f"The batches removed {removed:,} events, not {removed_rows:,}.")
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(f"VACUUM {PLAIN}")
        vacuumed = (time.perf_counter() - started) * 1000
        cursor.execute(
            f"INSERT INTO {PLAIN} ({COLUMNS}) SELECT {COLUMNS} FROM bench_retention_removed"  # noqa: S608
        )
        cursor.execute("DROP TABLE bench_retention_removed")
        cursor.execute(f"VACUUM ANALYZE {PLAIN}")
    say(f"  DETACH + DROP PARTITION {dropped:10.1f} ms")
    say(
        f"  batched deletes       {deleted:10.1f} ms ({batches:,} batches of {walk_ids:,} ids "
        f"walked, at most {max_rows:,} events each; slowest {slowest * 1000:.1f} ms; "
        f"{removed:,} events), {deleted / max(dropped, 1e-6):,.0f}x the DROP"
    )
    say(f"  VACUUM after them     {vacuumed:10.1f} ms (autovacuum's work the DROP avoids)")


def _bench_project(*, events: int, seed: int, say: Say) -> Project:
    out = io.StringIO()
    call_command(
        "createorg",
        org=BENCH_ORGANIZATION,
        owner=BENCH_OWNER,
        project=f"{events:,} events",
        json=True,
        stdout=out,
    )
    issued = json.loads(out.getvalue())
    project = Project.objects.get(id=issued["project_id"])
    have = Event.objects.filter(project=project).count()
    if have >= events:
        say(f"Reusing project {project.name!r}: {have:,} events.")
        return project
    say(f"Generating {events - have:,} events over 2 years in {project.name!r} ...")
    started = time.monotonic()
    call_command(
        "generate_events",
        project_token=issued["project_token"],
        users=max(1, (events - have) // 25),
        events=events - have,
        years=2,
        seed=seed,
        stdout=io.StringIO(),
    )
    say(f"  generated in {time.monotonic() - started:.1f} s")
    return project


def _copies_build(*, project: Project, say: Say) -> int:
    """Both copies, rebuilt unless they hold the project's events already; the number of
    monthly partitions."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM projects_event WHERE project_id = %s", [project.id])
        total = cursor.fetchone()[0]
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [MONTHLY])
        if cursor.fetchone()[0]:
            cursor.execute(f"SELECT count(*) FROM {MONTHLY}")  # noqa: S608
            if cursor.fetchone()[0] == total:
                cursor.execute(
                    "SELECT count(*) FROM pg_inherits i JOIN pg_class p "
                    "ON p.oid = i.inhparent WHERE p.relname = %s",
                    [MONTHLY],
                )
                return cursor.fetchone()[0]
        say(f"Copying {total:,} events into both layouts, in time order ...")
        started = time.monotonic()
        cursor.execute(f"DROP TABLE IF EXISTS {PLAIN}, {MONTHLY}")
        cursor.execute(
            f"CREATE TABLE {PLAIN} (LIKE projects_event INCLUDING DEFAULTS, PRIMARY KEY (id))"
        )
        cursor.execute(
            f"CREATE TABLE {MONTHLY} (LIKE projects_event INCLUDING DEFAULTS, "
            "PRIMARY KEY (id, time)) PARTITION BY RANGE (time)"
        )
        cursor.execute(
            "SELECT date_trunc('month', min(time) AT TIME ZONE 'UTC'), "
            "date_trunc('month', max(time) AT TIME ZONE 'UTC') "
            "FROM projects_event WHERE project_id = %s",
            [project.id],
        )
        first, last = cursor.fetchone()
        months = 0
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            after = (year + month // 12, month % 12 + 1)
            cursor.execute(
                f"CREATE TABLE {MONTHLY}_{year:04d}_{month:02d} PARTITION OF {MONTHLY} "
                f"FOR VALUES FROM ('{year:04d}-{month:02d}-01 00:00+00') "
                f"TO ('{after[0]:04d}-{after[1]:02d}-01 00:00+00')"
            )
            months += 1
            year, month = after
        for table in (PLAIN, MONTHLY):
            cursor.execute(
                f"INSERT INTO {table} ({COLUMNS}) SELECT {COLUMNS} FROM projects_event "  # noqa: S608
                "WHERE project_id = %s ORDER BY time",
                [project.id],
            )
            # Today's index, built after the copy as a restore would.
            cursor.execute(
                f"CREATE UNIQUE INDEX {table}_subject ON {table} "
                "(project_id, distinct_id, time, name, insert_id)"
            )
            cursor.execute(f"VACUUM ANALYZE {table}")
        say(f"  copied in {time.monotonic() - started:.1f} s")
    return months
