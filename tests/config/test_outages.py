"""What a request meets when Redis or PostgreSQL is away (issue 16, section 1): the cache answers
from this process's memory, and an outage answers 503 with Retry-After while any other error
stays a 500. The end-to-end tests (tests/e2e/test_redis_down.py, test_database_restart.py) stop
real servers; these pin the decisions."""

import json
import logging
import socket
from http import HTTPStatus

import pytest
from django.db import OperationalError, ProgrammingError, connection
from django.test import RequestFactory
from redis.exceptions import ConnectionError as RedisConnectionError

from config import cache as fail_soft
from config import outages


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def outage_forgotten():
    fail_soft._outage.down = False
    fail_soft._outage.retry_at = 0.0
    yield
    fail_soft._outage.down = False
    fail_soft._outage.retry_at = 0.0


def test_cache_without_redis_keeps_values_in_this_process_and_says_so_once(
    closed_port, outage_forgotten, caplog
):
    cache = fail_soft.FailSoftRedisCache(f"redis://127.0.0.1:{closed_port}/0", {})
    with caplog.at_level(logging.ERROR, logger="config.cache"):
        cache.set("attempts", 1)
        assert cache.add("attempts", 5) is False
        assert cache.incr("attempts") == 2
        assert cache.get("attempts") == 2
        assert cache.get_many(["attempts", "other"]) == {"attempts": 2}
        cache.delete("attempts")
        assert cache.get("attempts", "gone") == "gone"

    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1
    assert said[0].startswith("Redis does not answer (")
    assert said[0].endswith("the cache is kept in each process until it does.")


def call_handler(exc: BaseException, *, accept: str = ""):
    request = RequestFactory().post("/api/app/data-deletions/v3.0/", HTTP_ACCEPT=accept)
    try:
        raise exc
    except type(exc):
        return outages.server_error(request)


def test_redis_connection_error_answers_503_with_retry_after():
    response = call_handler(RedisConnectionError("Connection refused"))

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert json.loads(response.content) == {
        "status": "error",
        "error": "The job queue (Redis) is unavailable. Try again in a few seconds.",
    }


def test_a_page_gets_the_outage_as_html():
    response = call_handler(RedisConnectionError("refused"), accept="text/html,*/*")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Content-Type"].startswith("text/html")
    assert b"Try again in a few seconds" in response.content


@pytest.mark.django_db
def test_operational_error_while_the_database_answers_stays_a_500():
    # A statement timeout, say: the database is there, the fault is ours.
    connection.ensure_connection()
    response = call_handler(OperationalError("canceling statement due to statement timeout"))

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "Retry-After" not in response


@pytest.mark.django_db
def test_operational_error_when_the_database_refuses_connections_answers_503(monkeypatch):
    monkeypatch.setattr(outages, "_database_refuses_connections", lambda: True)

    response = call_handler(OperationalError("connection refused"))

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert json.loads(response.content)["error"] == (
        "The database is unavailable. Try again in a few seconds."
    )


@pytest.mark.django_db
def test_other_database_errors_are_never_an_outage(monkeypatch):
    monkeypatch.setattr(outages, "_database_refuses_connections", lambda: True)

    response = call_handler(ProgrammingError('relation "nothing" does not exist'))

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
