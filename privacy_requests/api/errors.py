"""Every error under /api/app/ has Mixpanel's shape: {"status": "error", "error": "..."}."""

from http import HTTPStatus

from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from privacy_requests.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidRequest,
    InvalidTransition,
    NotAllowed,
)


class PayloadTooLarge(exceptions.APIException):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."


def error_body(message) -> dict:
    return {"status": "error", "error": message}


def _message(detail) -> str:
    if isinstance(detail, list | tuple):
        return " ".join(_message(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_message(value)}" for key, value in detail.items())
    return str(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, Conflict):
        body = error_body(
            {
                "error": str(exc),
                "conflicting_distinct_ids": exc.distinct_ids,
                "conflicting_task_ids": exc.tracking_ids,
            }
        )
        return Response(body, status=HTTPStatus.CONFLICT)
    if isinstance(exc, InvalidRequest):
        return Response(error_body(str(exc)), status=HTTPStatus.BAD_REQUEST)
    if isinstance(exc, IdempotencyKeyReused):
        return Response(error_body(str(exc)), status=HTTPStatus.UNPROCESSABLE_ENTITY)
    if isinstance(exc, InvalidTransition):
        return Response(error_body(str(exc)), status=HTTPStatus.METHOD_NOT_ALLOWED)
    if isinstance(exc, NotAllowed):
        return Response(error_body(str(exc)), status=HTTPStatus.FORBIDDEN)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("NOT_FOUND")
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handling and logging take over
    response.data = error_body(
        _message(
            response.data.get("detail", response.data)
            if isinstance(response.data, dict)
            else response.data
        )
    )
    return response


class ApiErrorShapeMiddleware:
    """Django's own 404, 405 and 413 under /api/app/ (unknown paths, wrong methods outside
    DRF, oversized bodies) get the same JSON shape as DRF's errors."""

    PREFIX = "/api/app/"
    REASONS = {404: "NOT_FOUND", 405: "Method not allowed.", 413: "The request body is too large."}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith(self.PREFIX)
            and response.status_code in self.REASONS
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            shaped = JsonResponse(
                error_body(self.REASONS[response.status_code]), status=response.status_code
            )
            if response.has_header("Allow"):
                shaped["Allow"] = response["Allow"]
            return shaped
        return response
