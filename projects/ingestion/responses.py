"""The answers, in the shapes Mixpanel's clients parse.

A batch is answered as Mixpanel answers it: a success when one or more of its records are valid
(their records are stored), a failure only when none is. That is what lets the SDKs' batching
drain: the official Python SDK's `BufferedConsumer` raises on anything but `status == 1` and
then keeps and re-sends the whole batch on every later flush.

- `import` shape (/import with a JSON or NDJSON body, or `strict=1` anywhere): Mixpanel's
  /import answers. 200 `{"code":200,"num_records_imported":N,"status":"OK"}`; when a record
  failed, `strict` validation (the default) answers 400 with `failed_records` (index,
  $insert_id, field, message) and the number of records imported anyway, as Mixpanel does;
  `strict=0` answers 200 with `failed_records` while one record was stored, 400 when none was.
- `verbose` (`verbose=1`; /import's form `data` field always, as the Python SDK sends it and
  parses only this shape): `{"status":1,"error":null}`, with `failed_records` (index, field,
  message) when some were refused; `{"status":0,"error":"<summary>","failed_records":[…]}`
  with 400 when none was valid.
- otherwise `1`, or `0` with 400 when no record was valid.

Records dropped because their distinct_id is suppressed are valid (Mixpanel drops them
silently); JSON answers count them in `num_records_suppressed`, and device links refused by the
identity rules in `num_links_refused`, both present only when not zero.

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
    # Mixpanel's /import shape (code, status, num_records_imported, failed_records).
    import_shape: bool = False
    # In the /import shape: a batch with any refused record is answered 400 (Mixpanel's strict
    # mode); else 400 only when no record was valid.
    strict: bool = True
    verbose: bool = False
    callback: str | None = None
    img: bool = False


def strict_flag(params: dict[str, str]) -> bool | None:
    """The `strict` flag: True, False, or None when absent or unreadable."""
    value = params.get("strict", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def answer_style(
    endpoint: Endpoint, params: dict[str, str], *, from_data_field: bool
) -> AnswerStyle:
    strict = strict_flag(params)
    if endpoint == Endpoint.IMPORT:
        # Mixpanel's /import answers its own shape, strictly unless `strict=0`; the Python SDK,
        # which sends a form `data` field and no `strict`, parses only the verbose shape.
        return AnswerStyle(
            import_shape=strict is True or not from_data_field,
            strict=strict is not False,
            verbose=True,
        )
    callback = params.get("callback", "")
    return AnswerStyle(
        import_shape=strict is True,
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
    # An empty batch is a success, as in Mixpanel.
    any_valid = outcome.valid > 0 or not outcome.received
    if style.import_shape:
        if not failures:
            body: dict[str, Any] = {
                "code": 200,
                "num_records_imported": outcome.accepted,
                "status": "OK",
            }
            return _json(HTTPStatus.OK, {**body, **extras})
        failed_records = [
            {
                "index": failure.index,
                "$insert_id": failure.insert_id,
                "field": failure.field,
                "message": failure.message,
            }
            for failure in failures
        ]
        if not style.strict and any_valid:
            body = {"code": 200, "failed_records": failed_records}
            body |= {"num_records_imported": outcome.accepted, "status": "OK"}
            return _json(HTTPStatus.OK, {**body, **extras})
        body = {
            "code": 400,
            "error": "some data points in the request failed validation",
            "failed_records": failed_records,
            "num_records_imported": outcome.accepted,
            "status": "Bad Request",
        }
        return _json(HTTPStatus.BAD_REQUEST, {**body, **extras})
    failed = [
        {"index": failure.index, "field": failure.field, "message": failure.message}
        for failure in failures
    ]
    if any_valid:
        body = {"status": 1, "error": None}
        if failed:
            body["failed_records"] = failed
        return _simple(style, HTTPStatus.OK, {**body, **extras})
    shown = "; ".join(
        f"record {failure.index}: {failure.message}" for failure in failures[:_REASONS_SHOWN]
    )
    if len(failures) > _REASONS_SHOWN:
        shown += f"; and {len(failures) - _REASONS_SHOWN} more"
    summary = (
        f"{len(failures)} of {outcome.received} records rejected, "
        f"{outcome.accepted} accepted: {shown}"
    )
    body = {"status": 0, "error": summary, "failed_records": failed}
    return _simple(style, HTTPStatus.BAD_REQUEST, {**body, **extras})


def error_response(style: AnswerStyle, status: HTTPStatus, message: str) -> HttpResponse:
    """The request as a whole was refused (unreadable, too large, wrong method)."""
    if style.import_shape:
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
