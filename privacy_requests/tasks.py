"""RQ jobs: thin entry points that reload by id and call a service; safe to run twice."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from redis.exceptions import RedisError

from config.jobs import get_queue
from privacy_requests.callbacks.deliveries import callback_delivery_attempt
from privacy_requests.exports.subject_build import subject_packages_build
from privacy_requests.services import privacy_request_process, privacy_sweep

logger = logging.getLogger(__name__)

SWEEP_JOB = "privacy_requests.tasks.sweep"
SWEEP_JOB_PREFIX = "privacy-sweep-"


def process_privacy_request(tracking_id: str) -> str:
    return privacy_request_process(tracking_id=tracking_id)


def build_subject_packages(tracking_id: str) -> str:
    return subject_packages_build(tracking_id=tracking_id)


def sweep() -> str:
    """The self-scheduling sweep: runs once, then books the next run."""
    try:
        return privacy_sweep().as_text()
    finally:
        sweep_schedule_next()


def sweep_schedule_next() -> None:
    """Books the next sweep in one interval. The job id names the time slot, so workers that
    book the same slot book it once."""
    interval = settings.PRIVACY_SWEEP_INTERVAL
    slot = int(time.time() // interval) + 1
    try:
        get_queue().enqueue_in(
            timedelta(seconds=interval),
            SWEEP_JOB,
            job_id=f"{SWEEP_JOB_PREFIX}{slot}",
            result_ttl=interval * 4,
            failure_ttl=settings.RQ_FAILED_JOB_TTL,
        )
    except RedisError as exc:
        logger.warning("Could not book the next sweep: %s", exc)


def deliver_callback(delivery_pk: int) -> str:
    """One attempt of a signed callback (issue 19); skipped when not due or already held."""
    return callback_delivery_attempt(delivery_pk=delivery_pk)
