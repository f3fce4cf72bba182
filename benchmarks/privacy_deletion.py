"""The deletion part of `bench_privacy`: a GDPR deletion of the given users through the API, a
real gunicorn and a real worker, beside the raw `DELETE FROM projects_event WHERE project_id = %s
AND distinct_id = ANY(%s)` of the same subject set (the given ids and their identity clusters),
kept to the ids' index, timed in a transaction that is rolled back: once to warm the cache, then
timed; the same statement as the planner alone runs it is shown beside it.

Its longest transaction is shown twice: as the processor measured its own batch transactions
(`progress.longest_transaction_ms`), and as PostgreSQL saw every transaction of every session
while the deletion ran (`pg_stat_activity`, sampled every 10 ms). The deletion really deletes:
it runs last, on subjects no other measurement needs.
"""

import threading
import time

from django.db import connection, connections, transaction

from benchmarks.privacy_run import PrivacyBench, RunFigures
from privacy_requests.deletions.processor import deletion_batch_size
from projects.models import Event
from projects.selectors import identity_subject_set

RAW_DELETE = "DELETE FROM projects_event WHERE project_id = %s AND distinct_id = ANY(%s)"
SAMPLE_SECONDS = 0.01
TARGET = 1.5


def deletion_measure(bench: PrivacyBench, given: list[str], *, label: str) -> RunFigures:
    project = bench.dataset.project
    subject_set = identity_subject_set(project_id=project.id, distinct_ids=given)
    _raw_delete_seconds(project_id=project.id, distinct_ids=subject_set)  # warms the cache
    raw_seconds, raw_rows = _raw_delete_seconds(project_id=project.id, distinct_ids=subject_set)
    planned_seconds, _ = _raw_delete_seconds(
        project_id=project.id, distinct_ids=subject_set, planner_choice=True
    )
    watcher = _TransactionWatcher()
    watcher.start()
    try:
        request, stages, report = bench.run(kind="deletion", distinct_ids=given)
    finally:
        watcher.stop()
    figures = RunFigures(
        kind="deletion",
        job=(request.finished_at - request.started_at).total_seconds(),
        raw=raw_seconds,
        stages=stages,
        horse_peak_rss_kb=report["peak_rss_kb"],
        planned=planned_seconds,
    )
    batch_ms = request.progress.get("longest_transaction_ms", 0.0)
    figures.lines = [
        f"Deletion {label}: {len(given):,} users ({len(subject_set):,} ids with their identity "
        f"clusters), {raw_rows:,} events, in a store of {_store_size():,} events; "
        f"{request.counts}",
        *figures.ratio_lines(TARGET),
        f"  raw SQL: DELETE … = ANY of the same events on their index, rolled back; as the "
        f"planner chose it alone (a scan of the whole table past a few hundred ids) "
        f"{planned_seconds:.3f} s, end to end {figures.end_to_end / planned_seconds:.2f}× that; "
        f"work-horse peak RSS {report['peak_rss_kb'] / 1024:.0f} MiB",
        f"  longest transaction: {batch_ms:.1f} ms as the processor timed its "
        f"{request.progress.get('batches', 0)} batches of at most {deletion_batch_size():,} "
        f"events; {watcher.longest_ms or 0.0:.1f} ms of any session as PostgreSQL saw it "
        f"(then running {watcher.longest_statement!r}…) (target: under 2,000 ms)",
    ]
    if request.counts["events"] != raw_rows:
        figures.lines.append(
            f"  WRONG: the deletion removed {request.counts['events']:,} events, the raw "
            f"DELETE {raw_rows:,}"
        )
    return figures


def _store_size() -> int:
    if connection.vendor == "postgresql":  # an estimate: counting 5 million rows takes a while
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = 'projects_event'"
            )
            row = cursor.fetchone()
            if row and row[0] > 0:
                return row[0]
    return Event.objects.count()


def _raw_delete_seconds(
    *, project_id: int, distinct_ids: list[str], planner_choice: bool = False
) -> tuple[float, int]:
    """The raw DELETE, rolled back. Kept to the ids' index unless `planner_choice`: for a few
    thousand ids PostgreSQL's estimate leads it to scan the whole table (0.7 s at 5M events,
    6-10 s at 50M, against 0.04-0.3 s on the index), and the baseline is the fastest plain
    statement, not a strawman."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not planner_choice:
            cursor.execute("SET LOCAL enable_seqscan = off")
        started = time.perf_counter()
        if connection.vendor == "postgresql":
            cursor.execute(RAW_DELETE, [project_id, distinct_ids])
            rows = cursor.rowcount
        else:  # no ANY() elsewhere: the same statement as IN lists
            rows = 0
            for start in range(0, len(distinct_ids), 500):
                chunk = distinct_ids[start : start + 500]
                placeholders = ", ".join(["%s"] * len(chunk))  # values stay parameters
                cursor.execute(
                    "DELETE FROM projects_event WHERE project_id = %s"  # noqa: S608
                    f" AND distinct_id IN ({placeholders})",
                    [project_id, *chunk],
                )
                rows += cursor.rowcount
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed, rows


class _TransactionWatcher:
    """Samples pg_stat_activity from a connection of its own: the age of every open
    transaction of the database's other client sessions; keeps the oldest seen."""

    QUERY = """
        SELECT extract(epoch FROM clock_timestamp() - xact_start), left(query, 60)
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND backend_type = 'client backend' AND xact_start IS NOT NULL
        ORDER BY xact_start LIMIT 1
    """

    def __init__(self) -> None:
        self.longest_ms: float | None = None
        # The start of the statement running when the oldest transaction was seen (names
        # of tables and columns, cut before any value).
        self.longest_statement = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        if connection.vendor == "postgresql":
            self.longest_ms = 0.0
            self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()

    def _watch(self) -> None:
        # Threads get connections of their own in Django; close it when done.
        try:
            with connections["default"].cursor() as cursor:
                while not self._stop.is_set():
                    cursor.execute(self.QUERY)
                    row = cursor.fetchone()
                    if row is not None and float(row[0]) * 1000 > (self.longest_ms or 0.0):
                        self.longest_ms = float(row[0]) * 1000
                        self.longest_statement = row[1].split(" WHERE ")[0].split("%")[0]
                    time.sleep(SAMPLE_SECONDS)
        finally:
            connections["default"].close()
