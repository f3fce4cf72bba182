"""Putting requests on the RQ queue. The request row is the source of truth: a failed enqueue
leaves the request as it is, and the sweep enqueues it again later."""

import logging

from django.conf import settings
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from config.jobs import enqueue, get_queue

logger = logging.getLogger(__name__)

PROCESS_JOB = "privacy_requests.tasks.process_privacy_request"
SUBJECT_PACKAGES_JOB = "privacy_requests.tasks.build_subject_packages"
LIVE_JOB_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def job_id_for(tracking_id: str) -> str:
    # DESIGN says privacy:<tracking_id>; current RQ accepts only letters, digits, _ and - in
    # job ids, so the colon becomes a dash. Still one deterministic job id per request.
    return f"privacy-{tracking_id}"


def privacy_request_enqueue(*, tracking_id: str, replace: bool = False) -> bool:
    """Enqueues the request's job; False (logged, never raised) when Redis cannot be reached.

    `replace` drops a job of the same id first: the sweep uses it for a request whose worker
    died, whose old job RQ may still list as started.
    """
    job_id = job_id_for(tracking_id)
    try:
        if replace:
            _job_delete(job_id)
        enqueue(PROCESS_JOB, tracking_id, job_id=job_id, job_timeout=settings.PRIVACY_JOB_TIMEOUT)
    except (RedisError, OSError) as exc:
        logger.warning("Could not enqueue %s; the sweep will retry: %s", job_id, exc)
        return False
    return True


def subject_packages_job_id(tracking_id: str) -> str:
    return f"privacy-subjects-{tracking_id}"


def subject_packages_enqueue(*, tracking_id: str, replace: bool = False) -> bool:
    """Enqueues the job that writes an export's per-subject packages (exports/subject_build);
    False (logged) when Redis cannot be reached: the sweep enqueues it later."""
    job_id = subject_packages_job_id(tracking_id)
    try:
        if replace:
            _job_delete(job_id)
        enqueue(
            SUBJECT_PACKAGES_JOB,
            tracking_id,
            job_id=job_id,
            job_timeout=settings.PRIVACY_JOB_TIMEOUT,
        )
    except (RedisError, OSError) as exc:
        logger.warning("Could not enqueue %s; the sweep will retry: %s", job_id, exc)
        return False
    return True


def job_is_live(tracking_id: str, *, job_id: str | None = None) -> bool:
    """Is a job for this request (or the job `job_id`) waiting or running? Raises RedisError
    when Redis is down."""
    if settings.JOBS_SYNC:
        return False
    queue = get_queue()
    try:
        job = Job.fetch(job_id or job_id_for(tracking_id), connection=queue.connection)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in LIVE_JOB_STATUSES


def _job_delete(job_id: str) -> None:
    if settings.JOBS_SYNC:
        return
    queue = get_queue()
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return
    try:
        job.delete()
    except ValueError:
        # RQ 3.0: a job whose work-horse was killed can keep the id of an execution whose hash
        # is gone, and delete() raises on it (found by `chaos`): forget the dead executions,
        # then delete the job.
        queue.connection.delete(job.execution_registry.key)
        job.delete()
