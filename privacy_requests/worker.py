"""The worker `manage.py rqworker` runs (settings.RQ["WORKER_CLASS"]).

It always runs RQ's scheduler (so scheduled jobs fire without a cron) and makes sure a sweep is
booked: when it starts, and again at each of RQ's maintenance rounds (every
PRIVACY_WORKER_MAINTENANCE_INTERVAL seconds, a minute by default, where RQ waits 10): a Redis
server that restarted empty has lost the booked sweep and the scheduler's lock. Each sweep books
the next one.

Started while Redis is down, it waits for Redis instead of exiting.

Each job runs in a work-horse, a fork of the worker: what the worker loads before it forks,
every job finds loaded (`worker_preload`).

While it works (not in burst mode) a thread writes its heartbeat to the database every
PRIVACY_WORKER_HEARTBEAT_INTERVAL seconds, and at once when a job starts or ends; a clean stop
removes it. /readyz and the pages' "no worker" banner read these rows.
"""

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.urls import get_resolver
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Worker
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from privacy_requests.services.heartbeats import worker_heartbeat_record, worker_heartbeat_remove
from privacy_requests.services.queueing import PROCESS_JOB
from privacy_requests.tasks import SWEEP_JOB_PREFIX, sweep_schedule_next

logger = logging.getLogger(__name__)


def sweep_chain_alive(queue) -> bool:
    registries = (ScheduledJobRegistry(queue=queue), StartedJobRegistry(queue=queue))
    ids = [job_id for registry in registries for job_id in registry.get_job_ids()]
    ids += queue.get_job_ids()
    return any(job_id.startswith(SWEEP_JOB_PREFIX) for job_id in ids)


def redis_wait(connection) -> None:
    """A worker started while Redis is down waits for it (logged once) instead of exiting, so
    it needs no supervisor to outlive a Redis outage."""
    delay = 0.5
    while True:
        try:
            connection.ping()
        except RedisError as exc:
            if delay == 0.5:
                logger.warning("Redis does not answer (%s); waiting for it.", exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        else:
            if delay > 0.5:
                logger.warning("Redis answers again; the worker starts.")
            return


class Heartbeat(threading.Thread):
    """Writes the worker's row on a timer, with a database connection of its own that it
    closes after each beat (so none is held idle, and none is shared with a forked job)."""

    def __init__(self, *, name: str, interval: float) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.worker_name = name
        self.interval = interval
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = timezone.now()
        self.current_tracking_id = ""
        self.failing = False
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.beat()
            self._wake.wait(self.interval)
            self._wake.clear()

    def beat(self) -> None:
        try:
            worker_heartbeat_record(
                name=self.worker_name,
                host=self.host,
                pid=self.pid,
                started_at=self.started_at,
                current_tracking_id=self.current_tracking_id,
            )
        except DatabaseError as exc:
            if not self.failing:  # once per outage, not every beat
                logger.warning("Could not write the worker heartbeat: %s", exc)
            self.failing = True
        else:
            if self.failing:
                logger.info("The worker heartbeat is written again.")
            self.failing = False
        finally:
            connection.close()

    def working_on(self, tracking_id: str) -> None:
        self.current_tracking_id = tracking_id
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout=self.interval + 5)
        try:
            worker_heartbeat_remove(name=self.worker_name)
        except DatabaseError as exc:
            logger.warning("Could not remove the worker heartbeat: %s", exc)
        finally:
            connection.close()


def worker_preload() -> None:
    """Loads in the worker what each work-horse would otherwise load anew: the URLconf's names,
    resolved on a job's first reverse() (its email's links, a deletion receipt's): 35 ms of
    every export and deletion job, more where the worker had not imported the URLconf yet."""
    get_resolver().reverse_dict  # noqa: B018 - the property populates the resolver


class PrivacyWorker(Worker):
    heartbeat_thread: Heartbeat | None = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", settings.PRIVACY_WORKER_MAINTENANCE_INTERVAL)
        if kwargs.get("connection") is not None:
            redis_wait(kwargs["connection"])  # RQ's __init__ talks to Redis already
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # An idle worker blocks on Redis this long between checks of its maintenance round
        # (RQ's is its TTL less 15 s, 405 s by default): never longer than one round.
        return max(1, min(super().dequeue_timeout, int(self.maintenance_interval)))

    def work(self, *args, **kwargs):
        kwargs["with_scheduler"] = True
        worker_preload()
        self.sweep_ensure_booked()
        if not kwargs.get("burst") and not (args and args[0]):
            self.heartbeat_thread = Heartbeat(
                name=self.name, interval=settings.PRIVACY_WORKER_HEARTBEAT_INTERVAL
            )
            self.heartbeat_thread.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            if self.heartbeat_thread is not None:
                self.heartbeat_thread.stop()
                self.heartbeat_thread = None

    def execute_job(self, job, queue):
        beat = self.heartbeat_thread
        if beat is not None and job.func_name == PROCESS_JOB and job.args:
            beat.working_on(str(job.args[0]))
        try:
            return super().execute_job(job, queue)
        finally:
            if beat is not None and beat.current_tracking_id:
                beat.working_on("")

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        self.sweep_ensure_booked()

    def sweep_ensure_booked(self) -> None:
        try:
            if not any(sweep_chain_alive(queue) for queue in self.queues):
                sweep_schedule_next()
        except RedisError as exc:
            logger.warning("Could not check the sweep schedule: %s", exc)
