"""The export part of `bench_privacy`: one GDPR export of `subjects` users, through a real worker.

(a) the job's own time (started_at → finished_at) next to a raw `COPY (SELECT row_to_json(e)
    ...) TO STDOUT` of the very same event rows, deflated at the package's level;
(b) submit → SUCCESS as a requester sees it, with an idle `rqworker` waiting;
(c) the peak RSS of the RQ work-horse that ran the job. The job reports it itself: the worker
    is started with `process_privacy_request` wrapped so that, in the work-horse, it returns
    the horse's VmHWM (/proc/self/status: the kernel's high-water mark of its resident set,
    which nothing can miss) with the status. A forked horse starts with the pages of its
    worker, so the worker's idle RSS is printed beside it.
"""

import time
import zlib
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max
from rq.job import Job
from rq.registry import StartedJobRegistry

from accounts.actors import OPERATOR
from benchmarks.errors import BenchRefused
from benchmarks.privacy import (
    BenchDataset,
    BenchWorker,
    Say,
    bench_require_postgresql_and_redis,
)
from config.jobs import get_queue
from privacy_requests.exports.files import export_file_purge
from privacy_requests.exports.package import DEFLATE_LEVEL
from privacy_requests.models import PrivacyRequest, Status
from privacy_requests.services import privacy_request_submit
from privacy_requests.services.queueing import job_id_for
from projects.models import Event
from projects.selectors import identity_subject_set

FINISH_TIMEOUT = 600.0

# Runs in the worker before it starts (see BenchWorker): the job reports the horse's memory.
MEASURING_WORKER = """
from benchmarks.privacy import proc_status_kb
from privacy_requests import tasks

_process = tasks.process_privacy_request

def _measured(tracking_id):
    at_start = proc_status_kb("self", "VmRSS")
    status = _process(tracking_id)
    return {"status": status, "rss_at_start_kb": at_start,
            "peak_rss_kb": proc_status_kb("self", "VmHWM")}

tasks.process_privacy_request = _measured
"""


@dataclass
class ExportBenchResult:
    subjects: int
    subject_ids: int
    events: int
    package_bytes: int
    job_seconds: float
    copy_seconds: float
    copy_bytes: int
    copy_deflated_bytes: int
    submit_to_success_seconds: float
    worker_idle_rss_kb: int
    horse_rss_at_start_kb: int
    horse_peak_rss_kb: int

    @property
    def ratio(self) -> float:
        return self.job_seconds / self.copy_seconds if self.copy_seconds else 0.0

    def lines(self) -> list[str]:
        mib = 1024
        return [
            f"Export of {self.subjects:,} users ({self.subject_ids:,} ids with their linked ones): "
            f"{self.events:,} events, package {self.package_bytes / 2**20:.1f} MiB",
            f"  (a) job started_at → finished_at: {self.job_seconds:.2f} s; raw COPY of the same "
            f"rows deflated at level {DEFLATE_LEVEL}: {self.copy_seconds:.2f} s "
            f"({self.copy_bytes / 2**20:.1f} MiB → {self.copy_deflated_bytes / 2**20:.1f} MiB); "
            f"ratio {self.ratio:.2f}× (target ≤ 3×)",
            f"  (b) submit → SUCCESS through a real rqworker: "
            f"{self.submit_to_success_seconds:.2f} s (target < 5 s)",
            f"  (c) work-horse peak RSS (VmHWM): {self.horse_peak_rss_kb / mib:.0f} MiB "
            f"(target < 200 MiB); at job start {self.horse_rss_at_start_kb / mib:.0f} MiB, "
            f"idle worker {self.worker_idle_rss_kb / mib:.0f} MiB",
        ]


def export_bench_run(*, dataset: BenchDataset, given: list[str], say: Say) -> ExportBenchResult:
    """Exports the given users of the bench dataset through a real worker; leaves the data as
    it was (the package is purged at the end)."""
    bench_require_postgresql_and_redis()
    # Both sides read warm pages: the rows once through, untimed, before the export runs.
    warm_up_seconds = _raw_copy_of_ids(dataset.project, given)[0]
    say(f"Read the users' events once to warm the caches ({warm_up_seconds:.2f} s).")
    worker = BenchWorker(code=MEASURING_WORKER)
    try:
        worker.wait_ready()
        _wait_queue_idle(say)
        idle_rss = worker.rss_kb()
        say(f"rqworker {worker.process.pid} ready ({idle_rss / 1024:.0f} MiB); submitting ...")
        submitted = time.perf_counter()
        request = privacy_request_submit(
            project=dataset.project,
            actor=OPERATOR,
            channel="api",
            kind="export",
            compliance="GDPR",
            distinct_ids=given,
        )
        request = _wait_final(request, worker)
        submit_to_success = time.perf_counter() - submitted
        horse = _job_report(request)
    finally:
        worker.stop()
    if request.status != Status.SUCCESS:
        raise BenchRefused(f"The export ended {request.status}: {request.error}")
    try:
        copy_seconds, copy_bytes, deflated_bytes = _raw_copy(request)
    finally:
        export_file_purge(request, actor=OPERATOR.text, reason="benchmark file, not kept")
    return ExportBenchResult(
        subjects=len(given),
        subject_ids=request.subjects.count(),
        events=request.counts["events"],
        package_bytes=request.result_size,
        job_seconds=(request.finished_at - request.started_at).total_seconds(),
        copy_seconds=copy_seconds,
        copy_bytes=copy_bytes,
        copy_deflated_bytes=deflated_bytes,
        submit_to_success_seconds=submit_to_success,
        worker_idle_rss_kb=idle_rss,
        horse_rss_at_start_kb=horse["rss_at_start_kb"],
        horse_peak_rss_kb=horse["peak_rss_kb"],
    )


def _wait_queue_idle(say: Say) -> None:
    """Jobs left on the queue (say, by an interrupted earlier run) would run first and count in
    (b): the worker works them off before the export is submitted."""
    queue = get_queue()
    started = StartedJobRegistry(queue=queue)
    if not (queue.count or started.count):
        return
    say(f"Waiting for {queue.count + started.count} earlier jobs on the queue to finish ...")
    deadline = time.monotonic() + FINISH_TIMEOUT
    while queue.count or started.count:
        if time.monotonic() > deadline:
            raise BenchRefused("Earlier jobs on the queue did not finish.")
        time.sleep(0.1)


def _wait_final(request: PrivacyRequest, worker: BenchWorker) -> PrivacyRequest:
    deadline = time.monotonic() + FINISH_TIMEOUT
    while True:
        status = PrivacyRequest.objects.values_list("status", flat=True).get(id=request.id)
        if status in (Status.SUCCESS, Status.FAILURE):
            return PrivacyRequest.objects.get(id=request.id)
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise BenchRefused(
                f"The export is still {status}; worker output:\n" + "\n".join(worker.lines[-20:])
            )
        time.sleep(0.005)


def _job_report(request: PrivacyRequest) -> dict:
    """What the measuring job returned; it returns a moment after the row says SUCCESS."""
    job = Job.fetch(job_id_for(request.tracking_id), connection=get_queue().connection)
    deadline = time.monotonic() + 30
    while (report := job.return_value(refresh=True)) is None:
        if time.monotonic() > deadline:
            raise BenchRefused("The job did not report its memory.")
        time.sleep(0.02)
    return report


def _raw_copy_of_ids(project, given: list[str]) -> tuple[float, int, int]:
    """The same COPY for the given ids and their identity clusters, all events."""
    subject_ids = identity_subject_set(project_id=project.id, distinct_ids=given)
    top = Event.objects.filter(project=project).aggregate(top=Max("id"))["top"] or 0
    return _copy_deflated(project_id=project.id, subject_ids=subject_ids, snapshot=top)


def _raw_copy(request: PrivacyRequest) -> tuple[float, int, int]:
    """COPY of the export's event rows (same subject set, snapshot and order) as JSON, deflated
    as it streams; returns (seconds, bytes, deflated bytes)."""
    return _copy_deflated(
        project_id=request.project_id,
        subject_ids=list(request.subjects.values_list("distinct_id", flat=True)),
        snapshot=request.snapshot_max_event_id,
    )


def _copy_deflated(
    *, project_id: int, subject_ids: list[str], snapshot: int
) -> tuple[float, int, int]:
    # A join on the unnested ids rather than `distinct_id = ANY(...)`: the planner then takes
    # the index for each id, where ANY's row estimate leads it to a scan of the whole table.
    # The baseline is the fastest plain query we found, not a strawman.
    sql = (
        "COPY (SELECT row_to_json(e) FROM unnest(%s::text[]) AS s(distinct_id) "
        "JOIN projects_event e ON e.project_id = %s AND e.distinct_id = s.distinct_id "
        'WHERE e.id <= %s ORDER BY e.distinct_id COLLATE "C", e.time, e.id) TO STDOUT'
    )
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    raw = deflated = 0
    with connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.cursor.copy(sql, [subject_ids, project_id, snapshot]) as copy:
            for block in copy:
                raw += len(block)
                deflated += len(compressor.compress(block))
        deflated += len(compressor.flush())
        seconds = time.perf_counter() - started
    return seconds, raw, deflated
