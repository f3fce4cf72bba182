"""The GDPR API's rate limit across two gunicorn workers (issue 7): the count lives in the shared
cache (Redis), so however the requests of one token spread over workers, a window lets exactly
the allowed number through and answers the rest 429 with Retry-After, and never a 500.

gunicorn runs the local settings with DEBUG off on the PostgreSQL test database, with a
redis-server of the test's own as cache and queue; no worker processes the requests.
"""

import json
import os
import re
import sys
import threading
import time
from collections import Counter

import pytest
import requests

from privacy_requests.models import PrivacyRequest
from tests.e2e.conftest import poll_until, unused_port

pytestmark = pytest.mark.e2e

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
LIMIT = 2  # a second, for the scope under test
BURST = 16  # concurrent requests, one connection each
ACCESS_LINE = re.compile(r"^ACCESS pid=<(\d+)> status=(\d+) (\S+) (\S+)$")  # %(p)s is <pid>
HTTP_TIMEOUT = 20


@pytest.fixture
def gunicorn(database_url, redis_server, spawn, tmp_path):
    """Starts `gunicorn --workers 2` with the given rate limits; returns its base URL, process
    and the owner's secrets from `createorg --json`."""

    def start(*, create_rate: str, read_rate: str) -> dict:
        port = unused_port()  # not free_port: the test's redis-server holds that one
        base_url = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.local",
            DEBUG="0",
            DATABASE_URL=database_url,
            REDIS_URL=redis_server.url,
            VAR_DIR=str(tmp_path / "var"),
            PRIVACY_API_RATE_CREATE=create_rate,
            PRIVACY_API_RATE_READ=read_rate,
            PRIVACY_SWEEP_INTERVAL="3600",
            PYTHONUNBUFFERED="1",
        )
        command = spawn(
            "createorg", "--org", "Acme", "--owner", "owner@acme.test", "--project", "Web",
            "--json", env=env,
        )  # fmt: skip
        assert command.wait(timeout=60) == 0, command.output()
        owner = json.loads(command.lines[-1])
        server = spawn(
            env=env,
            command=[
                sys.executable, "-m", "gunicorn", "config.wsgi:application",
                "--workers", "2", "--bind", f"127.0.0.1:{port}",
                "--graceful-timeout", "2", "--access-logfile", "-",
                "--access-logformat", "ACCESS pid=%(p)s status=%(s)s %(m)s %(U)s",
            ],
        )  # fmt: skip
        server.wait_for_http(f"{base_url}/healthz", timeout=30)
        workers = booted_workers(server)

        # Until each worker has answered once: a burst then meets two warm workers.
        def both_answered() -> bool:
            requests.get(f"{base_url}/healthz", timeout=HTTP_TIMEOUT)
            return {pid for pid, *_ in access_lines(server)} == workers

        poll_until(both_answered, timeout=30, interval=0, message=server.output)
        return {"base_url": base_url, "server": server, "workers": workers, **owner}

    return start


def booted_workers(server) -> set[int]:
    def both() -> set[int] | None:
        pids = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.output())}
        return pids if len(pids) == 2 else None

    return poll_until(both, timeout=30, message=server.output)


def access_lines(server) -> list[tuple[int, int, str, str]]:
    return [
        (int(match[1]), int(match[2]), match[3], match[4])
        for match in map(ACCESS_LINE.match, list(server.lines))
        if match
    ]


def burst(method: str, url: str, *, headers: dict, bodies: list) -> list[requests.Response]:
    """Sends the requests from threads of their own, each on a new connection, released
    together just after the start of a second (the windows are fixed, whole seconds)."""
    ready = threading.Barrier(len(bodies) + 1)
    responses: list[requests.Response | None] = [None] * len(bodies)

    def send(index: int, body) -> None:
        ready.wait()
        responses[index] = requests.request(
            method, url, json=body, headers=headers, timeout=HTTP_TIMEOUT
        )

    threads = [
        threading.Thread(target=send, args=(index, body)) for index, body in enumerate(bodies)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.02 - time.time() % 1)
    ready.wait()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT + 5)
    assert all(response is not None for response in responses)
    return responses


def window_counts(redis_server, *, scope: str) -> dict[int, int]:
    """Requests counted per window (second) by the throttle, read from the shared cache."""
    client = redis_server.client()
    counts = {}
    for key in client.scan_iter(match=f"*gdpr-api-rate:{scope}:*"):
        counts[int(key.decode().rsplit(":", 1)[1])] = int(client.get(key))
    client.close()
    return counts


def assert_exactly_the_limit_passed(responses, *, passed_status: int, counts: dict[int, int]):
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {passed_status, 429}, statuses  # nothing else, no 500
    # However the burst fell across windows (almost always one), each let LIMIT through.
    assert sum(counts.values()) == len(responses), counts
    assert statuses[passed_status] == sum(min(count, LIMIT) for count in counts.values())
    assert statuses[429] == sum(max(count - LIMIT, 0) for count in counts.values()) > 0
    for response in responses:
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "1"
            assert response.json() == {
                "status": "error",
                "error": "Request was throttled. Expected available in 1 second.",
            }


def assert_served_by_both_workers(server, workers: set[int], *, method: str, path: str):
    def served() -> Counter | None:
        pids = Counter(
            pid for pid, _, line_method, line_path in access_lines(server)
            if (line_method, line_path) == (method, path)
        )  # fmt: skip
        return pids if pids.total() == BURST else None  # every line logged

    pids = poll_until(served, timeout=10, message=server.output)
    assert set(pids) == workers, (pids, workers)


def test_creates_of_one_token_across_two_gunicorn_workers_are_limited_together(
    gunicorn, redis_server
):
    site = gunicorn(create_rate=f"{LIMIT}/s", read_rate="1000/s")
    url = f"{site['base_url']}{RETRIEVALS}?token={site['project_token']}"
    headers = {"Authorization": f"Bearer {site['gdpr_token']}"}

    responses = burst(
        "POST", url, headers=headers, bodies=[{"distinct_ids": [f"user-{n}"]} for n in range(BURST)]
    )

    assert_exactly_the_limit_passed(
        responses, passed_status=201, counts=window_counts(redis_server, scope="create")
    )
    assert_served_by_both_workers(site["server"], site["workers"], method="POST", path=RETRIEVALS)
    created = sorted(
        response.json()["results"]["task_id"]
        for response in responses
        if response.status_code == 201
    )
    assert sorted(PrivacyRequest.objects.values_list("tracking_id", flat=True)) == created


def test_reads_of_one_token_across_two_gunicorn_workers_are_limited_together(
    gunicorn, redis_server
):
    site = gunicorn(create_rate="1000/s", read_rate=f"{LIMIT}/s")
    query = f"?token={site['project_token']}"
    headers = {"Authorization": f"Bearer {site['gdpr_token']}"}
    created = requests.post(
        f"{site['base_url']}{RETRIEVALS}{query}",
        json={"distinct_ids": ["alice"]},
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    path = f"{RETRIEVALS}{created.json()['results']['task_id']}/"

    responses = burst(
        "GET", f"{site['base_url']}{path}{query}", headers=headers, bodies=[None] * BURST
    )

    assert_exactly_the_limit_passed(
        responses, passed_status=200, counts=window_counts(redis_server, scope="read")
    )
    assert_served_by_both_workers(site["server"], site["workers"], method="GET", path=path)
