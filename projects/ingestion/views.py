"""The ingestion endpoints: thin views over decoding, authentication and the batch services.

Token-authenticated (the project token in each record, or for /import the API secret or a
service account), never session-authenticated: hence CSRF-exempt, and open to browser SDKs with
CORS `*`.
"""

import logging
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from projects.ingestion.authentication import basic_credentials, ingestion_authenticate
from projects.ingestion.decoding import FORM_CONTENT_TYPE, PayloadError, payload_read
from projects.ingestion.events import event_record_token, events_ingest
from projects.ingestion.groups import groups_ingest
from projects.ingestion.outcome import BatchOutcome, Endpoint
from projects.ingestion.profiles import engage_ingest
from projects.ingestion.refusals import refusals_count
from projects.ingestion.responses import (
    answer_style,
    error_response,
    outcome_response,
    strict_flag,
    unauthorized_response,
)

logger = logging.getLogger(__name__)

_PUBLIC_METHODS = ("GET", "POST")
_IMPORT_METHODS = ("POST",)
_ALLOWED_REQUEST_HEADERS = "Content-Type, Content-Encoding, Authorization, X-Requested-With"

View = Callable[[HttpRequest], HttpResponse]


def _cors(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest) -> HttpResponse:
        response = view(request)
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return wrapped


@csrf_exempt
@_cors
def track(request: HttpRequest) -> HttpResponse:
    return _ingest(request, endpoint=Endpoint.TRACK, methods=_PUBLIC_METHODS)


@csrf_exempt
@_cors
def engage(request: HttpRequest) -> HttpResponse:
    return _ingest(request, endpoint=Endpoint.ENGAGE, methods=_PUBLIC_METHODS)


@csrf_exempt
@_cors
def groups(request: HttpRequest) -> HttpResponse:
    return _ingest(request, endpoint=Endpoint.GROUPS, methods=_PUBLIC_METHODS)


@csrf_exempt
@_cors
def import_(request: HttpRequest) -> HttpResponse:
    return _ingest(request, endpoint=Endpoint.IMPORT, methods=_IMPORT_METHODS)


def _ingest(request: HttpRequest, *, endpoint: Endpoint, methods: tuple[str, ...]) -> HttpResponse:
    if request.method == "OPTIONS":
        return _preflight(methods)
    query = {key: request.GET.get(key, "") for key in request.GET}
    guessed_form = request.content_type.lower() == FORM_CONTENT_TYPE
    if request.method not in methods:
        style = answer_style(endpoint, query, from_data_field=guessed_form)
        response = error_response(
            style, HTTPStatus.METHOD_NOT_ALLOWED, f"use {' or '.join(methods)}"
        )
        response["Allow"] = ", ".join((*methods, "OPTIONS"))
        return response

    if endpoint == Endpoint.IMPORT:
        # Refused before the body is read; checked against the database once it is.
        credentials = basic_credentials(request)
        if credentials is None or not credentials[0]:
            return unauthorized_response()

    try:
        payload = payload_read(request, ndjson_allowed=endpoint == Endpoint.IMPORT)
    except PayloadError as error:
        style = answer_style(endpoint, {**query, **error.params}, from_data_field=guessed_form)
        logger.info("%s: request refused (%s): %s", endpoint, error.status.value, error.message)
        return error_response(style, error.status, error.message)
    style = answer_style(endpoint, payload.params, from_data_field=payload.from_data_field)

    if endpoint == Endpoint.IMPORT:
        authenticated = ingestion_authenticate(
            request=request,
            project_id=payload.params.get("project_id", ""),
            tokens=(event_record_token(record) for record in payload.records),
        )
        if authenticated is None:
            return unauthorized_response()
        outcome = events_ingest(
            endpoint=endpoint,
            records=payload.records,
            project=authenticated.project,
            principal=authenticated.principal,
            # Mixpanel's non-strict mode: `strict=0` skips per-record validation.
            strict=strict_flag(payload.params) is not False,
            encodable=payload.encodable,
        )
    elif endpoint == Endpoint.TRACK:
        outcome = events_ingest(
            endpoint=endpoint, records=payload.records, encodable=payload.encodable
        )
    elif endpoint == Endpoint.ENGAGE:
        outcome = engage_ingest(records=payload.records)
    else:
        outcome = groups_ingest(records=payload.records)
    _outcome_log(endpoint, outcome)
    refusals_count(endpoint=endpoint, failures=outcome.failures)
    return outcome_response(outcome, style)


def _preflight(methods: tuple[str, ...]) -> HttpResponse:
    response = HttpResponse(status=HTTPStatus.NO_CONTENT)
    response["Access-Control-Allow-Methods"] = ", ".join((*methods, "OPTIONS"))
    response["Access-Control-Allow-Headers"] = _ALLOWED_REQUEST_HEADERS
    response["Access-Control-Max-Age"] = "86400"
    return response


def _outcome_log(endpoint: Endpoint, outcome: BatchOutcome) -> None:
    # Counts and field names only: never a distinct_id or a property value.
    if not outcome.failures:
        logger.debug(
            "%s: %d records accepted, %d suppressed",
            endpoint,
            outcome.accepted,
            outcome.suppressed,
        )
        return
    fields = sorted({failure.field for failure in outcome.failures})
    logger.info(
        "%s: %d records, %d accepted, %d rejected (fields: %s), %d suppressed",
        endpoint,
        outcome.received,
        outcome.accepted,
        len(outcome.failures),
        ", ".join(fields[:5]),
        outcome.suppressed,
    )
