"""Probes for load balancers and orchestrators: /healthz (the process answers) and /readyz (it
can do its work: the database and Redis answer, and a worker was seen within a minute).

The bodies name checks and "ok" or "failing", never a host, a version or an error's text. The
probes are answered by a middleware near the top of the stack, before anything that checks the
Host header (a probe comes with the instance's address), redirects, signs in or rate-limits.
"""

import logging
from http import HTTPStatus

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from privacy_requests.liveness import READY_WITHIN, worker_seen_within

logger = logging.getLogger(__name__)

HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
REDIS_TIMEOUT = 2  # seconds: a probe must answer well within a load balancer's timeout
OK, FAILING, NOT_USED = "ok", "failing", "not used"


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    """Alive: no database, no Redis; a restart is the only cure for a process that fails it."""
    return _no_store(JsonResponse({"status": "ok"}))


def database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("Readiness: the database does not answer: %s", exc)
        return FAILING
    return OK


def redis_check() -> str:
    if settings.JOBS_SYNC:
        return NOT_USED  # jobs run in the web process
    url = str(settings.RQ_QUEUES["default"]["URL"])
    client = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        logger.warning("Readiness: Redis does not answer: %s", exc)
        return FAILING
    finally:
        client.close()
    return OK


def worker_check(database: str) -> str:
    if settings.JOBS_SYNC:
        return NOT_USED
    if database != OK:
        return FAILING  # heartbeats live in the database
    try:
        seen = worker_seen_within(READY_WITHIN)
    except DatabaseError as exc:
        logger.warning("Readiness: cannot read the worker heartbeats: %s", exc)
        return FAILING
    return OK if seen else FAILING


def readyz(request: HttpRequest) -> HttpResponse:
    database = database_check()
    checks = {"database": database, "redis": redis_check(), "worker": worker_check(database)}
    failing = sorted(name for name, state in checks.items() if state == FAILING)
    body = {"status": "not ready" if failing else "ready", "checks": checks, "failing": failing}
    status = HTTPStatus.SERVICE_UNAVAILABLE if failing else HTTPStatus.OK
    return _no_store(JsonResponse(body, status=status))


PROBES = {HEALTHZ_PATH: healthz, READYZ_PATH: readyz}


class HealthProbeMiddleware:
    """Answers GET and HEAD of the probes before host checks, redirects and sign-in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
