"""A real web server and a real RQ worker against the test PostgreSQL database and real Redis."""

import json
import os
import time
import uuid
from http import HTTPStatus
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from rq import Queue
from rq.job import JobStatus

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 30


@pytest.fixture
def database_url(transactional_db) -> str:
    """The test database, which data committed by a transactional test reaches."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


@pytest.fixture
def queue_name() -> str:
    # The Redis server is shared: this test's jobs go to a queue no one else serves.
    return f"e2e-smoke-{uuid.uuid4().hex}"


@pytest.fixture
def queue(queue_name):
    connection = redis.Redis.from_url(settings.TEST_REDIS_URL)
    queue = Queue(queue_name, connection=connection)
    yield queue
    # The queue, its jobs, registries and worker record: every key named after it.
    keys = list(connection.scan_iter(match=f"*{queue_name}*"))
    if keys:
        connection.delete(*keys)
    connection.close()


@pytest.fixture
def server_env(database_url, queue_name, tmp_path) -> dict[str, str]:
    """Local settings with DEBUG off, jobs on the real Redis, and the test's queue known to
    django-rq (its `rqworker` serves only the queues that RQ_QUEUES names)."""
    (tmp_path / "e2e_settings.py").write_text(
        "from config.settings.local import *  # noqa: F403\n"
        f"RQ_QUEUES = {{**RQ_QUEUES, {queue_name!r}: RQ_QUEUES['default']}}  # noqa: F405\n"
    )
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="e2e_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=settings.TEST_REDIS_URL,
        VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
    )
    return env


def test_web_server_serves_pages_from_the_test_database_and_worker_runs_a_job(
    server_env, queue, queue_name, spawn, free_port, http
):
    base_url = f"http://127.0.0.1:{free_port}/"
    web = spawn("runserver", "--noreload", f"127.0.0.1:{free_port}", env=server_env)
    spawn("rqworker", queue_name, "--name", queue_name, env=server_env)

    web.wait_for_http(base_url + "healthz", timeout=30)
    home = http.get(base_url)

    assert home.status == HTTPStatus.OK
    assert "<h1>Privacy requests</h1>" in home.text
    assert '<a class="button" href="/accounts/login/">Sign in</a>' in home.text

    # The server reads the test database: a login seeded there by the command signs in.
    seed = spawn("seed_demo", "--json", env=server_env)
    assert seed.wait(timeout=30) == 0, seed.output()
    login = json.loads(seed.lines[-1])
    projects = http.sign_in(base_url, email=login["owner_email"], password=login["password"])
    assert projects.status == HTTPStatus.OK
    assert projects.url == base_url + "projects/"
    assert f"<code>{login['project_token']}</code>" in projects.text

    job = queue.enqueue("config.jobs.ping", result_ttl=60)
    deadline = time.monotonic() + JOB_TIMEOUT
    while job.get_status(refresh=True) != JobStatus.FINISHED and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == "pong"
