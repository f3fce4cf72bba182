"""The export part of `bench_privacy`: a GDPR export of the given users through the API, a real
gunicorn and a real worker, beside a raw `COPY (SELECT row_to_json(e) ...) TO STDOUT` of the very
same event rows (same subject set, snapshot and order), deflated as it streams at the package's
level: the cheapest way PostgreSQL and zlib produce those bytes.
"""

import time
import zlib
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from accounts.actors import OPERATOR
from benchmarks.errors import BenchRefused
from benchmarks.privacy_run import PrivacyBench, RunFigures
from privacy_requests.exports.files import export_file_purge
from privacy_requests.exports.package import DEFLATE_LEVEL
from privacy_requests.exports.records import EXPORT_SORT_MEMORY
from privacy_requests.models import PrivacyRequest
from projects.selectors import identity_subject_set

TARGET = 2.0


def export_warm_up(bench: PrivacyBench, given: list[str]) -> float:
    """Both sides read warm pages: the rows once through, untimed, before anything is timed."""
    return raw_copy_of_ids(bench.dataset.project, given)[0]


def export_measure(bench: PrivacyBench, given: list[str], *, label: str) -> RunFigures:
    """One export, end to end, then the raw COPY of its rows; the package is purged after."""
    request, stages, report = bench.run(kind="export", distinct_ids=given)
    # Each person's package is written after SUCCESS: waited for (and timed) before anything
    # else runs, so that neither the raw SQL nor the next request competes with it.
    packages_seconds = _packages_wait(request)
    try:
        copy_seconds, copy_bytes, deflated_bytes = raw_copy(request)
    finally:
        export_file_purge(request, actor=OPERATOR.text, reason="benchmark file, not kept")
    figures = RunFigures(
        kind="export",
        job=(request.finished_at - request.started_at).total_seconds(),
        raw=copy_seconds,
        stages=stages,
        horse_peak_rss_kb=report["peak_rss_kb"],
    )
    figures.lines = [
        f"Export {label}: {len(given):,} users ({request.subjects.count():,} ids with their "
        f"linked ones), {request.counts['events']:,} events, package "
        f"{request.result_size / 2**20:.1f} MiB",
        *figures.ratio_lines(TARGET),
        f"  each person's package stored {packages_seconds:.3f} s after SUCCESS "
        f"({len(request.result_packages):,} packages, written by a job of their own)",
        f"  raw SQL: COPY … row_to_json of the same rows, deflated at level {DEFLATE_LEVEL} "
        f"({copy_bytes / 2**20:.1f} MiB → {deflated_bytes / 2**20:.1f} MiB); work-horse peak "
        f"RSS {report['peak_rss_kb'] / 1024:.0f} MiB (at job start "
        f"{report['rss_at_start_kb'] / 1024:.0f} MiB)",
    ]
    return figures


def _packages_wait(request: PrivacyRequest, *, timeout: float = 600.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        request.refresh_from_db()
        if not request.subject_packages_pending or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if request.subject_packages_pending:
        raise BenchRefused(f"The packages of {request.tracking_id} took over {timeout} s.")
    return max(0.0, time.time() - request.finished_at.timestamp())


def raw_copy_of_ids(project, given: list[str]) -> tuple[float, int, int]:
    """The same COPY for the given ids and their identity clusters, all events."""
    subject_ids = identity_subject_set(project_id=project.id, distinct_ids=given)
    return _copy_deflated(project_id=project.id, subject_ids=subject_ids, snapshot=timezone.now())


def raw_copy(request: PrivacyRequest) -> tuple[float, int, int]:
    """COPY of the export's event rows (same subject set, snapshot and order) as JSON, deflated
    as it streams; returns (seconds, bytes, deflated bytes)."""
    return _copy_deflated(
        project_id=request.project_id,
        subject_ids=list(request.subjects.values_list("distinct_id", flat=True)),
        snapshot=request.snapshot_at,
    )


def _copy_deflated(
    *, project_id: int, subject_ids: list[str], snapshot: datetime
) -> tuple[float, int, int]:
    # A join on the unnested ids rather than `distinct_id = ANY(...)`: the planner then takes
    # the index for each id, where ANY's row estimate leads it to a scan of the whole table.
    # The baseline is the fastest plain query we found, not a strawman.
    sql = (
        "COPY (SELECT row_to_json(e) FROM unnest(%s::text[]) AS s(distinct_id) "
        "JOIN projects_event e ON e.project_id = %s AND e.distinct_id = s.distinct_id "
        "WHERE e.ingested_at <= %s "
        'ORDER BY e.distinct_id COLLATE "C", e.time, e.name, e.insert_id) TO STDOUT'
    )
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    raw = deflated = 0
    with transaction.atomic(), connection.cursor() as cursor:
        # The sort in memory, as the export's own COPY has it (records.EXPORT_SORT_MEMORY).
        cursor.execute(f"SET LOCAL work_mem = '{EXPORT_SORT_MEMORY}'")
        started = time.perf_counter()
        with cursor.cursor.copy(sql, [subject_ids, project_id, snapshot]) as copy:
            for block in copy:
                raw += len(block)
                deflated += len(compressor.compress(block))
        deflated += len(compressor.flush())
        seconds = time.perf_counter() - started
    return seconds, raw, deflated
