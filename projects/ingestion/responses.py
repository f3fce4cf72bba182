"""The answers, in the shapes Mixpanel's clients parse.

- `strict` (/import by default for JSON and NDJSON bodies, or `strict=1` anywhere): Mixpanel's
  /import shapes: 200 `{"code":200,"num_records_imported":N,"status":"OK"}`; when any record
  failed, 400 with `failed_records` (index, $insert_id, field, message) and the number of
  records that were imported anyway.
- `verbose` (`verbose=1`; /import always, so the Python SDK can read it): `{"status":1,
  "error":null}`; when any record failed, 400 `{"status":0,"error":"<how many failed, how many
  were accepted, the first reasons>"}`.
- otherwise `1`, or `0` with 400 when any record failed.

A partial failure is never answered as a plain success: the good records of the batch are
stored, and the answer says that others were not and why. Records dropped because their
distinct_id is suppressed are not failures (Mixpanel drops them silently); JSON answers count
them in `num_records_suppressed`, and device links refused by the identity rules in
`num_links_refused`, both present only when not zero.

`callback=fn` (JSONP) and `img=1` (a pixel) answer 200 whatever happened, as a script or image
tag needs; the JSONP argument carries the outcome.
"""

import base64
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.http import HttpResponse

from projects.ingestion.outcome import BatchOutcome, Endpoint

_CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.]{0,99}")
_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII="
)
_REASONS_SHOWN = 3
_TRUE = ("1", "true")
_FALSE = ("0", "false")


@dataclass(frozen=True)
class AnswerStyle:
    strict: bool = False
    verbose: bool = False
    callback: str | None = None
    img: bool = False


def answer_style(
    endpoint: Endpoint, params: dict[str, str], *, from_data_field: bool
) -> AnswerStyle:
    strict_flag = params.get("strict", "").strip().lower()
    if endpoint == Endpoint.IMPORT:
        # Mixpanel's /import is strict unless told otherwise; the Python SDK, which sends a form
        # `data` field and no `strict`, parses only the verbose shape.
        strict = strict_flag in _TRUE or (strict_flag not in _FALSE and not from_data_field)
        return AnswerStyle(strict=strict, verbose=True)
    callback = params.get("callback", "")
    return AnswerStyle(
        strict=strict_flag in _TRUE,
        verbose=params.get("verbose", "").strip().lower() in _TRUE,
        callback=callback if _CALLBACK.fullmatch(callback) else None,
        img=params.get("img", "").strip().lower() in _TRUE,
    )


def outcome_response(outcome: BatchOutcome, style: AnswerStyle) -> HttpResponse:
    extras: dict[str, int] = {}
    if outcome.suppressed:
        extras["num_records_suppressed"] = outcome.suppressed
    if outcome.links_refused:
        extras["num_links_refused"] = outcome.links_refused
    failures = outcome.ordered_failures
    if style.strict:
        if not failures:
            return _json(
                HTTPStatus.OK,
                {
                    "code": 200,
                    "num_records_imported": outcome.accepted,
                    "status": "OK",
                    **extras,
                },
            )
        return _json(
            HTTPStatus.BAD_REQUEST,
            {
                "code": 400,
                "error": "some data points in the request failed validation",
                "failed_records": [
                    {
                        "index": failure.index,
                        "$insert_id": failure.insert_id,
                        "field": failure.field,
                        "message": failure.message,
                    }
                    for failure in failures
                ],
                "num_records_imported": outcome.accepted,
                "status": "Bad Request",
                **extras,
            },
        )
    if not failures:
        return _simple(style, HTTPStatus.OK, {"status": 1, "error": None, **extras})
    shown = "; ".join(
        f"record {failure.index}: {failure.message}" for failure in failures[:_REASONS_SHOWN]
    )
    if len(failures) > _REASONS_SHOWN:
        shown += f"; and {len(failures) - _REASONS_SHOWN} more"
    summary = (
        f"{len(failures)} of {outcome.received} records rejected, "
        f"{outcome.accepted} accepted: {shown}"
    )
    return _simple(style, HTTPStatus.BAD_REQUEST, {"status": 0, "error": summary, **extras})


def error_response(style: AnswerStyle, status: HTTPStatus, message: str) -> HttpResponse:
    """The request as a whole was refused (unreadable, too large, wrong method)."""
    if style.strict:
        return _json(status, {"code": status.value, "error": message, "status": status.phrase})
    return _simple(style, status, {"status": 0, "error": message})


def unauthorized_response() -> HttpResponse:
    """/import without valid credentials, in Mixpanel's shape whatever the style: the Python
    SDK reads `error` from it and raises."""
    return _json(
        HTTPStatus.UNAUTHORIZED,
        {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"},
    )


def _simple(style: AnswerStyle, status: HTTPStatus, body: dict[str, Any]) -> HttpResponse:
    if style.img:
        return HttpResponse(_PIXEL, content_type="image/png")
    if style.callback:
        argument = json.dumps(body) if style.verbose else str(body["status"])
        return HttpResponse(f"{style.callback}({argument});", content_type="application/javascript")
    if style.verbose:
        return _json(status, body)
    return HttpResponse(str(body["status"]), status=status, content_type="text/plain")


def _json(status: HTTPStatus, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )
