"""Deletion benchmark: a deletion of many subjects end to end, next to the raw
`DELETE` of the same events, in the same run.

1. The raw statement, `DELETE FROM projects_event WHERE project_id = %s AND distinct_id =
   ANY(%s)` over the subject set (the given ids and their identity clusters), timed inside a
   transaction that is rolled back: once to warm the cache, then timed.
2. The deletion itself, submit → SUCCESS, in this process: the request is submitted as the
   operator would, and `privacy_request_process` runs it here (if a worker took the job first,
   this waits for it to finish; the output says which).
3. Its longest transaction, twice: as the processor measured its own batch transactions
   (`progress.longest_transaction_ms`), and as PostgreSQL saw every transaction of every
   session while the deletion ran (`pg_stat_activity`, sampled every 10 ms).

Targets: at most 2× the raw DELETE, no transaction longer than 2 s. The deletion really
deletes: run it last, on subjects no other measurement needs.
"""

import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections, transaction

from accounts.actors import OPERATOR
from privacy_requests.deletions.processor import deletion_batch_size
from privacy_requests.models import FINAL_STATUSES, PrivacyRequest, Status
from privacy_requests.services import privacy_request_process, privacy_request_submit
from projects.models import Event, Project
from projects.selectors import identity_subject_set

RAW_DELETE = "DELETE FROM projects_event WHERE project_id = %s AND distinct_id = ANY(%s)"
SAMPLE_SECONDS = 0.01
WAIT_TIMEOUT_SECONDS = 3600


def run(*, project: Project, subjects: list[str], stdout) -> dict:
    subject_set = identity_subject_set(project_id=project.id, distinct_ids=subjects)
    events = Event.objects.filter(project=project, distinct_id__in=subject_set).count()

    def say(line: str) -> None:
        stdout.write(line + "\n")

    say(
        f"Deletion: {len(subjects):,} subjects ({len(subject_set):,} ids with their identity "
        f"clusters), {events:,} events, in a store of {_store_size():,} events"
    )

    _raw_delete_seconds(project_id=project.id, distinct_ids=subject_set)  # warms the cache
    raw_seconds, raw_rows = _raw_delete_seconds(project_id=project.id, distinct_ids=subject_set)
    say(f"  raw DELETE of the same events (rolled back): {raw_seconds:.3f} s, {raw_rows:,} rows")

    watcher = _TransactionWatcher()
    watcher.start()
    started = time.perf_counter()
    try:
        request = privacy_request_submit(
            project=project,
            actor=OPERATOR,
            channel="api",
            kind="deletion",
            compliance="GDPR",
            distinct_ids=subjects,
        )
        # Without Redis the enqueue ran the job here already. With Redis, this process runs it
        # unless a worker claimed it first (then this waits for the worker).
        waiting = PrivacyRequest.objects.filter(
            id=request.id, status__in=(Status.PENDING, Status.STAGING)
        ).exists()
        in_process = settings.JOBS_SYNC
        if waiting:
            status = privacy_request_process(tracking_id=request.tracking_id)
            in_process = in_process or status in FINAL_STATUSES
        request = _wait_until_final(request)
        end_to_end = time.perf_counter() - started
    finally:
        watcher.stop()
    if request.status != Status.SUCCESS:
        say(f"  the deletion ended {request.status}: {request.error}")
    processing = (request.finished_at - request.started_at) / timedelta(seconds=1)
    longest_batch_ms = request.progress.get("longest_transaction_ms", 0.0)
    result = {
        "subjects": len(subjects),
        "subject_ids": len(subject_set),
        "events": events,
        "status": request.status,
        "counts": request.counts,
        "in_process": in_process,
        "raw_delete_seconds": round(raw_seconds, 3),
        "raw_delete_rows": raw_rows,
        "end_to_end_seconds": round(end_to_end, 3),
        "processing_seconds": round(processing, 3),
        "ratio_end_to_end": round(end_to_end / raw_seconds, 2) if raw_seconds else None,
        "ratio_processing": round(processing / raw_seconds, 2) if raw_seconds else None,
        "batches": request.progress.get("batches", 0),
        "batch_size": deletion_batch_size(),
        "longest_batch_transaction_ms": longest_batch_ms,
        "longest_transaction_ms_seen_by_postgresql": watcher.longest_ms,
        "longest_transaction_statement": watcher.longest_statement,
    }
    where = "in this process" if in_process else "by a worker"
    say(
        f"  deletion, submit → {request.status} ({where}): {end_to_end:.3f} s end to end, "
        f"{processing:.3f} s started → finished; {request.counts}"
    )
    say(
        f"  ratio to the raw DELETE: {result['ratio_end_to_end']}× end to end, "
        f"{result['ratio_processing']}× processing (target: at most 2×)"
    )
    say(
        f"  longest transaction: {longest_batch_ms:.1f} ms as the processor timed its "
        f"{result['batches']} batches of at most {result['batch_size']:,} events; "
        + (
            f"{watcher.longest_ms:.1f} ms of any session as PostgreSQL saw it (then running "
            f"{watcher.longest_statement!r}…)"
            if watcher.longest_ms is not None
            else "PostgreSQL's view needs PostgreSQL"
        )
        + " (target: under 2,000 ms)"
    )
    return result


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


def _raw_delete_seconds(*, project_id: int, distinct_ids: list[str]) -> tuple[float, int]:
    with transaction.atomic(), connection.cursor() as cursor:
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


def _wait_until_final(request: PrivacyRequest) -> PrivacyRequest:
    deadline = time.monotonic() + WAIT_TIMEOUT_SECONDS
    while True:
        request.refresh_from_db()
        if request.status in (*FINAL_STATUSES, Status.FAILURE) or time.monotonic() > deadline:
            return request
        time.sleep(0.05)


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
