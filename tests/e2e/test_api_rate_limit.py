"""The GDPR API's rate limits across two gunicorn workers (issues 7, 15 and 16): the state lives in
the shared cache (Redis), so however the requests of one token spread over workers, a burst lets
exactly the allowed number through and answers the rest 429 with Retry-After, and never a 500;
no window boundary lets two creates through half a second apart; and with Redis stopped, the
limits hold in each worker, each worker says so once, and requests are still stored.

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

from accounts.models import User
from privacy_requests.models import PrivacyRequest, Status
from tests.e2e.conftest import poll_until, unused_port

pytestmark = pytest.mark.e2e

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
LIMIT = 2  # a minute, for the scope under test: a burst of 2, then one every 30 s
BURST = 16  # concurrent requests, one connection each
ACCESS_LINE = re.compile(r"^ACCESS pid=<(\d+)> status=(\d+) (\S+) (\S+)$")  # %(p)s is <pid>
HTTP_TIMEOUT = 20


@pytest.fixture
def gunicorn(database_url, redis_server, spawn, tmp_path):
    """Starts `gunicorn --workers 2` with the given rate limits; returns its base URL, process
    and the owner's secrets from `createorg --json`."""

    def start(*, create_rate: str, read_rate: str, auth_failure_rate: str = "1000/s") -> dict:
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
            PRIVACY_API_RATE_AUTH_FAILURE=auth_failure_rate,
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


def owner_id(site) -> int:
    return User.objects.get(email="owner@acme.test").id


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
    together."""
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
    ready.wait()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT + 5)
    assert all(response is not None for response in responses)
    return responses


def limiter_keys(redis_server) -> list[str]:
    """The limiter's state in the shared Redis: one key per principal and scope."""
    client = redis_server.client()
    keys = sorted(key.decode() for key in client.scan_iter(match="privacy:rate:*"))
    client.close()
    return keys


def assert_exactly_the_limit_passed(responses, *, passed_status: int):
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {passed_status, 429}, statuses  # nothing else, no 500
    # The burst took far less than the 30 s that frees the next slot.
    assert statuses[passed_status] == LIMIT, statuses
    for response in responses:
        if response.status_code == 429:
            wait = int(response.headers["Retry-After"])
            assert 1 <= wait <= 30
            unit = "second" if wait == 1 else "seconds"
            assert response.json() == {
                "status": "error",
                "error": f"Request was throttled. Expected available in {wait} {unit}.",
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
    site = gunicorn(create_rate=f"{LIMIT}/min", read_rate="1000/s")
    url = f"{site['base_url']}{RETRIEVALS}?token={site['project_token']}"
    headers = {"Authorization": f"Bearer {site['gdpr_token']}"}

    responses = burst(
        "POST", url, headers=headers, bodies=[{"distinct_ids": [f"user-{n}"]} for n in range(BURST)]
    )

    assert_exactly_the_limit_passed(responses, passed_status=201)
    assert limiter_keys(redis_server) == [f"privacy:rate:create:{owner_id(site)}"]
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
    site = gunicorn(create_rate="1000/s", read_rate=f"{LIMIT}/min")
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

    assert_exactly_the_limit_passed(responses, passed_status=200)
    assert f"privacy:rate:read:{owner_id(site)}" in limiter_keys(redis_server)
    assert_served_by_both_workers(site["server"], site["workers"], method="GET", path=path)


def test_no_second_boundary_lets_two_creates_through_half_a_second_apart(gunicorn):
    site = gunicorn(create_rate="1/s", read_rate="1000/s")
    url = f"{site['base_url']}{RETRIEVALS}?token={site['project_token']}"
    headers = {"Authorization": f"Bearer {site['gdpr_token']}"}
    # Both workers have served the API once, so neither create pays a first request's imports.
    burst("GET", url, headers=headers, bodies=[None] * 4)

    # Late in one second, then early in the next: a fixed window counted them apart. Each is
    # sent at its own moment from a thread of its own, so a slow answer to the first cannot
    # push the second past the one-second interval (CI once took 0.5 s to answer the first).
    start = time.time() + 1.75 - time.time() % 1
    responses: dict[str, requests.Response] = {}

    def send(name: str, at: float) -> None:
        time.sleep(max(0.0, at - time.time()))
        responses[name] = requests.post(
            url, json={"distinct_ids": [name]}, headers=headers, timeout=HTTP_TIMEOUT
        )

    threads = [
        threading.Thread(target=send, args=(name, at))
        for name, at in (("a", start), ("b", start + 0.49))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT + 5)

    statuses = Counter(response.status_code for response in responses.values())
    assert statuses == {201: 1, 429: 1}, {name: r.text for name, r in responses.items()}
    (refused,) = (response for response in responses.values() if response.status_code == 429)
    assert refused.headers["Retry-After"] == "1"
    assert PrivacyRequest.objects.count() == 1


def test_failed_authentications_from_one_address_are_limited_across_workers(gunicorn):
    site = gunicorn(create_rate="1000/s", read_rate="1000/s", auth_failure_rate="3/min")
    url = f"{site['base_url']}{RETRIEVALS}?token={site['project_token']}"

    guesses = burst(
        "GET", url, headers={"Authorization": "Bearer gdpr_guess"}, bodies=[None] * BURST
    )
    valid = requests.post(
        url,
        json={"distinct_ids": ["a"]},
        headers={"Authorization": f"Bearer {site['gdpr_token']}"},
        timeout=HTTP_TIMEOUT,
    )

    assert Counter(response.status_code for response in guesses) == {401: 3, 429: BURST - 3}
    assert valid.status_code == 429  # the address is out of budget, whatever it sends
    assert PrivacyRequest.objects.count() == 0


PER_PROCESS = "the API's rate limits are counted in each process until it does."
SHARED_AGAIN = "Redis answers again: the API's rate limits are shared again."


def test_with_redis_stopped_each_worker_limits_alone_and_nothing_answers_500(
    gunicorn, redis_server
):
    site = gunicorn(create_rate="1/min", read_rate="1000/s", auth_failure_rate="1000/s")
    base_url, server = site["base_url"], site["server"]
    query = f"?token={site['project_token']}"
    headers = {"Authorization": f"Bearer {site['gdpr_token']}"}
    served_before = len(access_lines(server))
    redis_server.stop()

    creates = [
        requests.post(
            f"{base_url}{RETRIEVALS}{query}",
            json={"distinct_ids": [f"user-{n}"]},
            headers=headers,
            timeout=HTTP_TIMEOUT,
        )
        for n in range(8)
    ]
    created = [response for response in creates if response.status_code == 201]
    task_id = created[0].json()["results"]["task_id"]
    status = requests.get(f"{base_url}{RETRIEVALS}{task_id}/{query}", headers=headers, timeout=20)
    listed = requests.get(f"{base_url}/api/requests/", headers=headers, timeout=HTTP_TIMEOUT)
    unknown = requests.get(
        f"{base_url}{RETRIEVALS}{task_id}/{query}",
        headers={"Authorization": "Bearer gdpr_wrong"},
        timeout=HTTP_TIMEOUT,
    )
    canceled = requests.delete(
        f"{base_url}{RETRIEVALS}{task_id}/{query}", headers=headers, timeout=HTTP_TIMEOUT
    )

    assert {response.status_code for response in creates} <= {201, 429}
    # One create a minute in each worker that took one: one or two in all, never eight.
    workers_that_created = {
        pid for pid, code, method, _ in access_lines(server)[served_before:]
        if (method, code) == ("POST", 201)
    }  # fmt: skip
    assert len(created) == len(workers_that_created) in (1, 2)
    stored = PrivacyRequest.objects.filter(tracking_id__in=[
        response.json()["results"]["task_id"] for response in created
    ])  # fmt: skip
    assert stored.count() == len(created)  # stored, PENDING: the sweep enqueues them later
    assert (status.status_code, listed.status_code, unknown.status_code) == (200, 200, 401)
    assert status.json()["results"]["status"] == "PENDING"
    assert canceled.status_code == 204
    assert PrivacyRequest.objects.get(tracking_id=task_id).status == Status.REVOKED
    # Each worker that served a request says so once.
    workers_after_stop = {pid for pid, *_ in access_lines(server)[served_before:]}
    assert server.output().count(PER_PROCESS) == len(workers_after_stop)
    assert "Internal Server Error" not in server.output()

    # Redis back: the limit is shared again, and the worker that notices says so.
    redis_server.start()
    time.sleep(5.5)  # config.rate_limits.REDIS_RETRY_SECONDS
    again = [
        requests.post(
            f"{base_url}{RETRIEVALS}{query}",
            json={"distinct_ids": [f"back-{n}"]},
            headers=headers,
            timeout=HTTP_TIMEOUT,
        ).status_code
        for n in range(4)
    ]

    assert again == [201, 429, 429, 429]
    assert SHARED_AGAIN in server.output()
    assert server.output().count(PER_PROCESS) == len(workers_after_stop)
