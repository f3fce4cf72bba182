"""A real `rqworker` resolves the URLconf before it forks: every job's work-horse finds it
done, where each job used to do it on its first reverse() (35 ms a job)."""

import pytest
from rq import Queue

from tests.e2e.conftest import poll_until

pytestmark = pytest.mark.e2e


def test_a_work_horse_finds_the_urlconf_loaded(site_env, redis_server, spawn):
    worker = spawn("rqworker", "default", env=site_env)
    worker.wait_for_line(r"Listening on", timeout=60)
    queue = Queue("default", connection=redis_server.client())

    jobs = [queue.enqueue("tests.e2e.worker_probe.urlconf_loaded") for _ in range(2)]

    def finished() -> bool:
        return all(job.get_status(refresh=True) in ("finished", "failed") for job in jobs)

    poll_until(finished, timeout=60, message="the probe jobs did not finish")
    assert [job.return_value(refresh=True) for job in jobs] == [True, True]
