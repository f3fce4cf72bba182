"""The GDPR API's rate limits as a client meets them (issue 15, finding 10; issue 16, section 1):
a GCRA, so no window boundary lets two creates through 0.49 s apart; failed authentications
limited per client address; and with Redis unreachable, limits counted per process, logged
once, never a 500. Across real gunicorn workers and a real Redis: tests/e2e/test_api_rate_limit.py.
"""

import base64
import logging
import socket
from http import HTTPStatus

import pytest
from django.test import Client

from accounts.models import Role
from accounts.services import gdpr_token_reset
from config import rate_limits
from privacy_requests.models import PrivacyRequest
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

RETRIEVALS = "/api/app/data-retrievals/v3.0/"


class Clock:
    """The local limiter's clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(1_000_000.0)
    monkeypatch.setattr("config.rate_limits.local_clock", clock)
    return clock


@pytest.fixture
def owner_token(project) -> str:
    owner = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    return gdpr_token_reset(user=owner)


@pytest.fixture
def call(project):
    def call(method, path, body=None, *, token=None, address="203.0.113.7", **headers):
        client = Client(REMOTE_ADDR=address)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return getattr(client, method)(
            f"{path}?token={project.token}",
            body,
            content_type="application/json",
            headers=headers,
        )

    return call


def rates(settings, **chosen: str) -> None:
    settings.PRIVACY_API_RATES = {**settings.PRIVACY_API_RATES, **chosen}


def test_two_creates_half_a_second_apart_across_a_second_boundary_are_one_too_many(
    call, owner_token, settings, clock
):
    rates(settings, create="1/s")
    clock.now = 1_000_000.75  # late in one second: a fixed window let the next one through

    first = call("post", RETRIEVALS, {"distinct_ids": ["a"]}, token=owner_token)
    clock.now += 0.49  # early in the next second
    second = call("post", RETRIEVALS, {"distinct_ids": ["b"]}, token=owner_token)
    clock.now += 0.51  # a full second after the first
    third = call("post", RETRIEVALS, {"distinct_ids": ["c"]}, token=owner_token)

    assert [first.status_code, second.status_code, third.status_code] == [201, 429, 201]
    assert second["Retry-After"] == "1"
    assert PrivacyRequest.objects.count() == 2


def test_a_rate_lets_its_burst_through_then_one_per_interval(call, owner_token, settings, clock):
    rates(settings, create="3/min")

    burst = [
        call("post", RETRIEVALS, {"distinct_ids": [str(n)]}, token=owner_token).status_code
        for n in range(4)
    ]
    clock.now += 19.9
    early = call("post", RETRIEVALS, {"distinct_ids": ["x"]}, token=owner_token)
    clock.now += 0.1  # 20 s: one slot back, not three
    refilled = [
        call("post", RETRIEVALS, {"distinct_ids": [f"y{n}"]}, token=owner_token).status_code
        for n in range(2)
    ]

    assert burst == [201, 201, 201, 429]
    assert early.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert early["Retry-After"] == "1"
    assert refilled == [201, 429]
    assert PrivacyRequest.objects.count() == 4


# -- failed authentication, per client address -------------------------------------------------


def test_failed_authentications_are_limited_per_address_before_credentials_are_checked(
    call, owner_token, settings, clock
):
    rates(settings, auth_failure="3/min")

    failures = [
        call("get", RETRIEVALS + "x/", token=f"gdpr_guess{n}").status_code for n in range(3)
    ]
    missing = call("get", RETRIEVALS + "x/")
    valid_but_blocked = call("post", RETRIEVALS, {"distinct_ids": ["a"]}, token=owner_token)
    elsewhere = call(
        "post", RETRIEVALS, {"distinct_ids": ["b"]}, token=owner_token, address="198.51.100.9"
    )
    clock.now += 20  # one failure's worth of budget back
    later = call("post", RETRIEVALS, {"distinct_ids": ["c"]}, token=owner_token)

    assert failures == [401, 401, 401]
    assert missing.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert missing["Retry-After"] == "20"
    assert missing.json() == {
        "status": "error",
        "error": "Too many failed authentications from your address. Expected available in 20 "
        "seconds.",
    }
    assert valid_but_blocked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert elsewhere.status_code == later.status_code == HTTPStatus.CREATED
    assert PrivacyRequest.objects.count() == 2


def test_requests_that_authenticate_give_their_slot_back(call, owner_token, settings, clock):
    rates(settings, auth_failure="1/min")

    answers = [
        call("post", RETRIEVALS, {"distinct_ids": [str(n)]}, token=owner_token).status_code
        for n in range(5)
    ]
    answers += [call("get", RETRIEVALS + "nope/", token=owner_token).status_code]  # a 404
    answers += [call("get", RETRIEVALS + "x/", token="gdpr_guess").status_code for _ in range(2)]

    assert answers == [201, 201, 201, 201, 201, 404, 401, 429]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer gdpr_wrong", "Bearer", "Basic " + base64.b64encode(b"nobody.1234.sa:nope").decode()],
)
def test_every_kind_of_401_spends_the_budget(call, settings, clock, authorization):
    rates(settings, auth_failure="2/min")

    answers = [
        call("get", RETRIEVALS + "x/", Authorization=authorization).status_code for _ in range(3)
    ]

    assert answers == [401, 401, 429]


def test_the_request_list_counts_failures_too(settings, clock):
    rates(settings, auth_failure="1/min")
    client = Client(REMOTE_ADDR="203.0.113.8")

    answers = [
        client.get("/api/requests/", headers={"Authorization": "Bearer gdpr_x"}).status_code
        for _ in range(2)
    ]

    assert answers == [401, 429]


def test_x_forwarded_for_counts_only_behind_the_configured_proxies(call, settings, clock):
    rates(settings, auth_failure="1/min")

    # No trusted proxy: the header is the client's own text, and changes nothing.
    spoofed = [
        call("get", RETRIEVALS + "x/", token="gdpr_x", X_Forwarded_For=f"10.0.0.{n}").status_code
        for n in range(2)
    ]
    # One load balancer: the address it appended is the client; what the client wrote is not.
    settings.PRIVACY_TRUSTED_PROXIES = 1
    behind = [
        call(
            "get", RETRIEVALS + "x/", token="gdpr_x", address="10.1.1.1",
            X_Forwarded_For=f"6.6.6.{n}, 192.0.2.44",
        ).status_code
        for n in range(2)
    ]  # fmt: skip
    another_client = call(
        "get", RETRIEVALS + "x/", token="gdpr_x", address="10.1.1.1", X_Forwarded_For="192.0.2.45"
    )

    assert spoofed == [401, 429]
    assert behind == [401, 429]
    assert another_client.status_code == HTTPStatus.UNAUTHORIZED


def test_client_address_falls_back_to_remote_addr_on_a_short_or_bad_header(rf, settings):
    settings.PRIVACY_TRUSTED_PROXIES = 2

    short = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1")
    bad = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="evil, 10.0.0.2")
    good = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 192.0.2.9, 10.0.0.2")

    assert rate_limits.client_address(short) == "10.0.0.1"
    assert rate_limits.client_address(bad) == "10.0.0.1"
    assert rate_limits.client_address(good) == "192.0.2.9"


# -- Redis unreachable ---------------------------------------------------------------------------


def free_port_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: connections are refused


@pytest.fixture
def redis_cache_that_does_not_answer(settings, monkeypatch):
    """The cache is Redis, as in production, on a port nobody listens on."""
    monkeypatch.setattr(rate_limits, "_shared", rate_limits._RedisGcra())
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port_nobody_listens_on()}/0",
        },
    }


def test_with_redis_unreachable_limits_hold_per_process_and_are_logged_once(
    call, owner_token, settings, clock, caplog, redis_cache_that_does_not_answer
):
    rates(settings, create="1/s", read="2/s")
    caplog.set_level(logging.INFO, logger="config.rate_limits")

    creates = [
        call("post", RETRIEVALS, {"distinct_ids": [str(n)]}, token=owner_token) for n in range(2)
    ]
    task_id = creates[0].json()["results"]["task_id"]
    reads = [
        call("get", f"{RETRIEVALS}{task_id}/", token=owner_token).status_code for _ in range(3)
    ]
    guess = call("get", RETRIEVALS + "x/", token="gdpr_guess")

    assert [response.status_code for response in creates] == [201, 429]
    assert reads == [200, 200, 429]
    assert guess.status_code == HTTPStatus.UNAUTHORIZED
    logged = [record for record in caplog.records if record.name == "config.rate_limits"]
    assert [record.levelname for record in logged] == ["ERROR"]
    assert (
        logged[0]
        .getMessage()
        .endswith("the API's rate limits are counted in each process until it does.")
    )
    assert PrivacyRequest.objects.count() == 1
