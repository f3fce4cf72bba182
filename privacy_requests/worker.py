"""The worker `manage.py rqworker` runs (settings.RQ["WORKER_CLASS"]).

It always runs RQ's scheduler (so scheduled jobs fire without a cron) and makes sure a sweep is
booked: when it starts, and again at each of RQ's maintenance rounds (about every 10 minutes):
a Redis server that restarted empty has lost the booked sweep. Each sweep books the next one.
"""

import logging

from redis.exceptions import RedisError
from rq import Worker
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from privacy_requests.tasks import SWEEP_JOB_PREFIX, sweep_schedule_next

logger = logging.getLogger(__name__)


def sweep_chain_alive(queue) -> bool:
    registries = (ScheduledJobRegistry(queue=queue), StartedJobRegistry(queue=queue))
    ids = [job_id for registry in registries for job_id in registry.get_job_ids()]
    ids += queue.get_job_ids()
    return any(job_id.startswith(SWEEP_JOB_PREFIX) for job_id in ids)


class PrivacyWorker(Worker):
    def work(self, *args, **kwargs):
        kwargs["with_scheduler"] = True
        self.sweep_ensure_booked()
        return super().work(*args, **kwargs)

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        self.sweep_ensure_booked()

    def sweep_ensure_booked(self) -> None:
        try:
            if not any(sweep_chain_alive(queue) for queue in self.queues):
                sweep_schedule_next()
        except RedisError as exc:
            logger.warning("Could not check the sweep schedule: %s", exc)
