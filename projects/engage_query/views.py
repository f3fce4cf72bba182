"""The engage query endpoint: GET or POST, parameters in the query string or a form body.

Authenticated by HTTP Basic on every call (never a session cookie, hence CSRF-exempt; never from
a browser, hence no CORS). Answers: 200 with a page, or `{"status": "error", "error": …}` with
401 (checked first: no credentials, wrong ones, or another project's id), 400 (a bad parameter
or `where`), 405 or 413.
"""

import json
import logging
from http import HTTPStatus

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from projects.engage_query.authentication import engage_query_project_authenticate
from projects.engage_query.errors import QueryRefused
from projects.engage_query.parameters import engage_query_parse
from projects.engage_query.selectors import PAGE_SIZE, profile_page_select

logger = logging.getLogger(__name__)

_METHODS = ("GET", "POST")


@csrf_exempt
def engage_query(request: HttpRequest) -> HttpResponse:
    if request.method not in _METHODS:
        response = _error(HTTPStatus.METHOD_NOT_ALLOWED, f"use {' or '.join(_METHODS)}")
        response["Allow"] = ", ".join(_METHODS)
        return response
    try:
        params = {**request.GET.dict(), **request.POST.dict()}
    except RequestDataTooBig:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the request body is too large")
    except (SuspiciousOperation, MultiPartParserError):
        return _error(HTTPStatus.BAD_REQUEST, "the request's parameters cannot be read")

    project = engage_query_project_authenticate(
        request=request, project_id=params.get("project_id", "")
    )
    if project is None:
        response = _error(HTTPStatus.UNAUTHORIZED, "Invalid credentials")
        response["WWW-Authenticate"] = 'Basic realm="Mixpanel"'
        return response

    try:
        query = engage_query_parse(params)
        page = profile_page_select(project=project, query=query)
    except QueryRefused as refusal:
        # Not the reason: it may quote the where's literals, an email address for one.
        logger.info("engage query refused for project %s", project.pk)
        return _error(HTTPStatus.BAD_REQUEST, str(refusal))
    # Counts only: never a distinct_id or a property value. A new query is worth an info line;
    # the pages after it are not.
    logger.log(
        logging.INFO if not query.session_id else logging.DEBUG,
        "engage query for project %s: page %s, %s of %s profiles",
        project.pk,
        page.page,
        len(page.results),
        page.total,
    )
    return _json(
        HTTPStatus.OK,
        {
            "page": page.page,
            "page_size": PAGE_SIZE,
            "session_id": page.session_id,
            "status": "ok",
            "total": page.total,
            "results": page.results,
        },
    )


def _error(status: HTTPStatus, message: str) -> HttpResponse:
    return _json(status, {"status": "error", "error": message})


def _json(status: HTTPStatus, body: dict) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )
    # End users' personal data: no cache keeps a copy.
    response["Cache-Control"] = "no-store"
    return response
