"""/healthz and /readyz: for load balancers, so no sign-in, no Host check, no redirect, and
bodies that name checks only (no host, version or error text)."""

import json
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError
from django.utils import timezone

from config import health
from privacy_requests.models import WorkerHeartbeat
from tests.config.test_settings import load_production

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def jobs_on_redis(settings):
    """As production runs: jobs go to Redis (the test Redis) and a worker takes them."""
    if not django_settings.TEST_REDIS_URL:
        pytest.skip("needs REDIS_URL")
    settings.JOBS_SYNC = False
    settings.RQ_QUEUES = {"default": {"URL": django_settings.TEST_REDIS_URL}}


def beat(*, ago: timedelta = timedelta(0), name: str = "worker-1") -> WorkerHeartbeat:
    now = timezone.now()
    return WorkerHeartbeat.objects.create(
        name=name, host="db-host-7", pid=4242, started_at=now - ago, last_seen_at=now - ago
    )


def test_healthz_answers_without_the_database(client):
    # No db fixture: pytest-django fails the test if the probe touched the database.
    response = client.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.django_db
def test_probes_answer_a_host_the_site_does_not_name(client, path):
    # A load balancer probes with the instance's address as Host: no 400 DisallowedHost.
    response = client.get(path, headers={"host": "10.1.2.3:8000"})

    assert response.status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_readyz_with_jobs_in_process_needs_neither_redis_nor_a_worker(client, settings):
    settings.JOBS_SYNC = True

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "not used", "worker": "not used"},
        "failing": [],
    }


@pytest.mark.django_db
def test_readyz_is_ready_with_a_worker_seen_within_a_minute(client, jobs_on_redis):
    beat(ago=timedelta(seconds=50))

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "worker": "ok"}


@pytest.mark.parametrize("ago", [None, timedelta(seconds=61), timedelta(hours=3)])
@pytest.mark.django_db
def test_readyz_is_not_ready_without_a_recent_worker(client, jobs_on_redis, ago):
    if ago is not None:
        beat(ago=ago)

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "status": "not ready",
        "checks": {"database": "ok", "redis": "ok", "worker": "failing"},
        "failing": ["worker"],
    }
    assert "db-host-7" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_names_redis_when_it_does_not_answer(client, settings):
    settings.JOBS_SYNC = False
    settings.RQ_QUEUES = {"default": {"URL": UNREACHABLE_REDIS}}
    beat()

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"] == "failing"
    assert "127.0.0.1" not in response.content.decode()
    assert "refused" not in response.content.decode().lower()


class BrokenConnection:
    def cursor(self):
        raise OperationalError('connection to server at "db.internal" (10.9.9.9), port 5432 failed')


@pytest.mark.django_db
def test_readyz_names_the_database_without_its_error(client, jobs_on_redis, monkeypatch):
    monkeypatch.setattr(health, "connection", BrokenConnection())

    response = client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "status": "not ready",
        "checks": {"database": "failing", "redis": "ok", "worker": "failing"},
        "failing": ["database", "worker"],
    }
    text = response.content.decode()
    assert "db.internal" not in text and "10.9.9.9" not in text and "5432" not in text


@pytest.mark.django_db
def test_probes_need_no_sign_in_and_carry_no_session(client, jobs_on_redis):
    beat()

    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == HTTPStatus.OK, path
        assert "sessionid" not in response.cookies
        assert "csrftoken" not in response.cookies


def test_production_probes_over_plain_http_are_not_redirected():
    # SECURE_SSL_REDIRECT sends every other plain-HTTP request to https://; a probe from the
    # load balancer must get its answer. (No database here: /readyz reports it failing.)
    code = (
        "from django.test import Client; c = Client(); "
        "print(c.get('/healthz', headers={'host': '10.0.0.7'}).status_code); "
        "r = c.get('/readyz', headers={'host': '10.0.0.7'}); print(r.status_code); "
        "import json; print(json.dumps(r.json()['checks'], sort_keys=True)); "
        "print(c.get('/accounts/login/', headers={'host': 'localhost'}).status_code)"
    )

    result = load_production(
        code, DATABASE_URL="postgres://nobody@127.0.0.1:1/none", REDIS_URL=UNREACHABLE_REDIS
    )

    lines = result.stdout.strip().splitlines()
    assert lines[:2] == ["200", "503"], result.stderr
    assert json.loads(lines[2]) == {"database": "failing", "redis": "failing", "worker": "failing"}
    assert lines[3] == "301"
