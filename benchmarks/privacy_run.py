"""What the two parts of `bench_privacy` share: a real gunicorn, a real `rqworker` and a GDPR
API client, and one request taken from submit to its final status as that client sees it.

Where the time goes is read from the clocks each side keeps (one machine, one clock): the
client's (sent, answered, final status seen), RQ's job (enqueued, started in the work-horse)
and the request's row (started_at, finished_at):

    create answered   submit → the create's HTTP answer
    queued            submit → RQ's enqueued_at (the row is committed, then the job enqueued)
    picked up         enqueued → the work-horse starts the job (dequeue, fork)
    claimed           the horse starts → the request's started_at (staging, the claim)
    job               started_at → finished_at (identity resolution, processing, finishing)
    seen              finished_at → the client reads the final status (commit, polling)

The peak RSS of the work-horse is reported by the job itself: the worker runs
`process_privacy_request` wrapped so that, in the horse, it returns the horse's VmHWM
(/proc/self/status: the kernel's high-water mark of its resident set) with the status.
"""

import statistics
import time
from dataclasses import dataclass, field

from rq.job import Job
from rq.registry import StartedJobRegistry

from benchmarks.errors import BenchRefused
from benchmarks.privacy import BenchDataset, BenchWorker, Say
from benchmarks.privacy_api import ClientView, GdprApiClient
from benchmarks.servers import BenchServer
from config.jobs import get_queue
from privacy_requests.models import PrivacyRequest
from privacy_requests.services.queueing import job_id_for

FINISH_TIMEOUT = 3600.0
QUEUE_IDLE_TIMEOUT = 600.0

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

STAGES = ("create answered", "queued", "picked up", "claimed", "job", "seen")


@dataclass
class RunFigures:
    """One request, measured: end to end, the job's own time and the raw SQL of its rows."""

    kind: str
    job: float
    raw: float
    stages: dict[str, float]
    horse_peak_rss_kb: int
    lines: list[str] = field(default_factory=list)
    # Deletion: the same raw statement as the planner runs it alone, when that differs.
    planned: float | None = None

    @property
    def end_to_end(self) -> float:
        """Submit → the final status seen: the stages after "create answered", which runs
        alongside "queued"."""
        return sum(seconds for name, seconds in self.stages.items() if name != STAGES[0])

    def ratio_lines(self, target: float) -> list[str]:
        return [
            f"  submit → SUCCESS as the API client saw it: {self.end_to_end:.3f} s; "
            f"job started_at → finished_at: {self.job:.3f} s; raw SQL: {self.raw:.3f} s",
            f"  ratios to the raw SQL: end to end {self.end_to_end / self.raw:.2f}× "
            f"(target ≤ {target:g}×), job {self.job / self.raw:.2f}×",
            f"  where the time went: create answered in {self.stages[STAGES[0]] * 1000:.0f} ms; "
            + ", ".join(
                f"{name} {seconds * 1000:.0f} ms"
                for name, seconds in self.stages.items()
                if name != STAGES[0]
            ),
        ]


def summary_line(kind: str, runs: list[RunFigures], target: float) -> str:
    def median(values) -> float:
        return statistics.median(values)

    e2e, job, raw = (
        median(getattr(run, name) for run in runs) for name in ("end_to_end", "job", "raw")
    )
    e2e_ratio = median(run.end_to_end / run.raw for run in runs)
    job_ratio = median(run.job / run.raw for run in runs)
    spread = (
        min(run.end_to_end / run.raw for run in runs),
        max(run.end_to_end / run.raw for run in runs),
    )
    line = (
        f"  {kind}: end to end {e2e:.3f} s, job {job:.3f} s, raw {raw:.3f} s; "
        f"end-to-end/raw {e2e_ratio:.2f}× (runs {spread[0]:.2f}×–{spread[1]:.2f}×, "
        f"target ≤ {target:g}×), job/raw {job_ratio:.2f}×"
    )
    planned = [run for run in runs if run.planned]
    if planned:
        ratios = [run.end_to_end / run.planned for run in planned if run.planned]
        line += (
            f"\n    against the raw statement as PostgreSQL plans it alone "
            f"({median(run.planned for run in planned if run.planned):.3f} s): end-to-end "
            f"{median(ratios):.2f}× (runs {min(ratios):.2f}×–{max(ratios):.2f}×, "
            f"target ≤ {target:g}×)"
        )
    return line


class PrivacyBench:
    """gunicorn, an rqworker and a client, for the length of a `with` block."""

    def __init__(self, *, dataset: BenchDataset, poll_interval: float, say: Say):
        self.dataset = dataset
        self.poll_interval = poll_interval
        self.say = say
        self.server: BenchServer | None = None
        self.worker: BenchWorker | None = None
        self.client: GdprApiClient | None = None
        self.worker_idle_rss_kb = 0

    def __enter__(self) -> "PrivacyBench":
        self.worker = BenchWorker(code=MEASURING_WORKER)
        try:
            self.server = BenchServer(workers=2, say=self.say).__enter__()
            self.worker.wait_ready()
            _wait_queue_idle(self.say)
            self.worker_idle_rss_kb = self.worker.rss_kb()
            self.say(
                f"  rqworker (pid {self.worker.pid}) ready, {self.worker_idle_rss_kb / 1024:.0f} "
                f"MiB; the client polls every {self.poll_interval * 1000:.0f} ms"
            )
            self.client = GdprApiClient(
                port=self.server.port,
                gdpr_token=self.dataset.gdpr_token,
                project_token=self.dataset.project_token,
                poll_interval=self.poll_interval,
            )
            self.client.warm_up("export")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self.client is not None:
            self.client.close()
        if self.server is not None:
            self.server.__exit__()
        if self.worker is not None:
            self.worker.stop()

    def run(self, *, kind: str, distinct_ids: list[str]) -> tuple[PrivacyRequest, dict, dict]:
        """Submits through the API and polls until the request ends; returns the request, the
        stages (seconds) and what the job reported."""
        if self.client is None or self.worker is None:
            raise BenchRefused("The bench runs requests inside its `with` block.")
        view = self.client.run(kind=kind, distinct_ids=distinct_ids, timeout=FINISH_TIMEOUT)
        request = PrivacyRequest.objects.get(tracking_id=view.tracking_id)
        if view.status != "SUCCESS":
            raise BenchRefused(
                f"The {kind} ended {view.status}: {request.error}; worker output:\n"
                + "\n".join(self.worker.lines[-20:])
            )
        report = _job_report(request)
        return request, _stages(view, request), report


def _stages(view: ClientView, request: PrivacyRequest) -> dict[str, float]:
    job = Job.fetch(job_id_for(request.tracking_id), connection=get_queue().connection)
    enqueued = job.enqueued_at.timestamp() if job.enqueued_at else view.submitted_at
    horse = job.started_at.timestamp() if job.started_at else enqueued
    started = request.started_at.timestamp()
    finished = request.finished_at.timestamp()
    return dict(
        zip(
            STAGES,
            (
                view.answered_at - view.submitted_at,
                enqueued - view.submitted_at,
                horse - enqueued,
                started - horse,
                finished - started,
                view.seen_at - finished,
            ),
            strict=True,
        )
    )


def _wait_queue_idle(say: Say) -> None:
    """Jobs left on the queue (say, by an interrupted earlier run) would run first and count
    in the figures: the worker works them off before anything is submitted."""
    queue = get_queue()
    started = StartedJobRegistry(queue=queue)
    if not (queue.count or started.count):
        return
    say(f"Waiting for {queue.count + started.count} earlier jobs on the queue to finish ...")
    deadline = time.monotonic() + QUEUE_IDLE_TIMEOUT
    while queue.count or started.count:
        if time.monotonic() > deadline:
            raise BenchRefused("Earlier jobs on the queue did not finish.")
        time.sleep(0.1)


def _job_report(request: PrivacyRequest) -> dict:
    """What the measuring job returned; it returns a moment after the row says SUCCESS."""
    job = Job.fetch(job_id_for(request.tracking_id), connection=get_queue().connection)
    deadline = time.monotonic() + 30
    while (report := job.return_value(refresh=True)) is None:
        if time.monotonic() > deadline:
            raise BenchRefused("The job did not report its memory.")
        time.sleep(0.02)
    return report
