"""A request that fails because PostgreSQL or Redis is away answers 503 with Retry-After, not
500 (issue 16, section 1): the client should try again shortly, and nothing is wrong with what
it sent.

This is the site's handler500, so it sees every uncaught exception, raised in a view or in a
middleware alike. Only an outage becomes 503:

- redis ConnectionError and TimeoutError (the queue dashboard reads Redis directly);
- a database OperationalError or InterfaceError when the request could not connect, or its
  connection was cut (PostgreSQL restarted under it), or the database does not take a new
  connection.

An OperationalError on a connection that still works (a statement timeout, say) stays a 500:
it is a fault of this code or its data, and must be seen as one.
"""

import logging
import sys
from http import HTTPStatus

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
PROBE_TIMEOUT_SECONDS = 2


def server_error(request: HttpRequest) -> HttpResponse:
    reason = outage_reason(sys.exc_info()[1])
    if reason is None:
        return django_server_error(request)
    logger.warning("%s: %s %s answers 503", reason, request.method, request.path)
    return outage_response(request, reason)


def outage_reason(exc: BaseException | None) -> str | None:
    """What is away, when exc is an outage; None when it is anything else."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "The job queue (Redis) is unavailable"
    if isinstance(exc, OperationalError | InterfaceError) and (
        _connection_broken() or _database_refuses_connections()
    ):
        return "The database is unavailable"
    return None


def outage_response(request: HttpRequest, reason: str) -> HttpResponse:
    message = f"{reason}. Try again in a few seconds."
    if "text/html" in request.headers.get("Accept", ""):
        response: HttpResponse = HttpResponse(
            f"<!doctype html><title>Service unavailable</title><h1>{message}</h1>",
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    else:
        response = JsonResponse(
            {"status": "error", "error": message}, status=HTTPStatus.SERVICE_UNAVAILABLE
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _connection_broken() -> bool:
    """No connection after the error (connecting failed: it may be back by now, but it was
    away for this request), or one the server cut."""
    raw = connections[DEFAULT_DB_ALIAS].connection
    return raw is None or bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))


def _database_refuses_connections() -> bool:
    probe = connections.create_connection(DEFAULT_DB_ALIAS)
    if probe.vendor != "postgresql":
        return False
    options = {**probe.settings_dict.get("OPTIONS", {}), "connect_timeout": PROBE_TIMEOUT_SECONDS}
    probe.settings_dict = {**probe.settings_dict, "OPTIONS": options}
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT 1")
    except (OperationalError, InterfaceError):
        return True
    finally:
        probe.close()
    return False
