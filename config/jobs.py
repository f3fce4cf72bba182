"""The one way code reaches the job queue.

With a Redis server (REDIS_URL) jobs go to the RQ queue that `manage.py rqworker` serves. Without
one (JOBS_SYNC) they run at once, in process, through RQ's synchronous mode on an in-memory Redis,
so the same code path works on a machine that has no Redis server at all.
"""

from collections.abc import Callable
from functools import cache
from typing import Any

import django_rq
from django.conf import settings
from rq import Queue
from rq.job import Job

QUEUE_NAME = "default"


@cache
def _sync_connection():
    import fakeredis

    return fakeredis.FakeRedis()


def get_queue(name: str = QUEUE_NAME) -> Queue:
    if settings.JOBS_SYNC:
        return Queue(name, connection=_sync_connection(), is_async=False)
    return django_rq.get_queue(name)


def enqueue(
    func: Callable[..., Any] | str,
    *args: Any,
    job_id: str | None = None,
    job_timeout: int | None = None,
    **kwargs: Any,
) -> Job:
    """Enqueue now; callers inside a transaction wrap this in transaction.on_commit."""
    return get_queue().enqueue(
        func,
        *args,
        job_id=job_id,
        job_timeout=job_timeout,
        failure_ttl=settings.RQ_FAILED_JOB_TTL,
        **kwargs,
    )


def ping() -> str:
    """A trivial job: proves a worker picks up and finishes work."""
    return "pong"
