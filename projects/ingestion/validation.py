"""Per-record checks shared by the endpoints, with the messages the client sees.

A check returns a `Problem` (the field and a message naming it) or None. Messages never need a
property value: they name the field and the rule.
"""

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from projects.ingestion import limits
from projects.models import Project

# Mixpanel refuses these placeholder ids (compared trimmed and case-insensitively), as
# distinct_ids and as $insert_ids alike.
DISALLOWED_DISTINCT_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "<nil>",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
    }
)

EARLIEST_EVENT_TIME = datetime(1971, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME_AHEAD = timedelta(hours=1)
_EARLIEST_SECONDS = EARLIEST_EVENT_TIME.timestamp()
_AHEAD_SECONDS = LATEST_EVENT_TIME_AHEAD.total_seconds()
# A time at or past this is in milliseconds: as seconds it would be past the year 2286, and
# every millisecond time after 1971-01-01 (3.15e10) is above it, so no allowed time is ambiguous.
_MILLISECONDS_FROM = 1e10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Past any instant a date holds, in seconds or milliseconds.
_LARGEST_TIME = 10**15

_SCALARS = frozenset({str, int, float, bool, type(None)})
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
_NAME_SHOWN = 60


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str


def field_problem(field: str, rule: str) -> Problem:
    return Problem(field=field, message=f"'{field}' {rule}")


def property_field(prefix: str, name: str) -> str:
    shown = name if len(name) <= _NAME_SHOWN else name[:_NAME_SHOWN] + "…"
    return f"{prefix}.{shown}"


def distinct_id_normalize(
    value: Any, *, field: str, placeholders_refused: bool = True
) -> str | Problem:
    """The id as stored (numbers become text), or why it is refused. Without
    `placeholders_refused` (/import?strict=0) only what storage needs is checked."""
    if value.__class__ is str:  # the usual case first
        text = value
    elif value is None:
        return field_problem(field, "is required")
    elif isinstance(value, bool) or not isinstance(value, str | int):
        return field_problem(field, "must be a string")
    else:
        text = str(value)
    if len(text) > limits.MAX_ID_LENGTH:
        return field_problem(field, f"is longer than {limits.MAX_ID_LENGTH} characters")
    if placeholders_refused and text.strip().lower() in DISALLOWED_DISTINCT_IDS:
        return field_problem(field, "is a placeholder value that Mixpanel does not accept as an id")
    return text


def insert_id_problem(value: Any, *, field: str, strict: bool = True) -> Problem | None:
    """Mixpanel's rule: 1 to 36 letters, digits and '-', and none of the placeholder ids.
    Without `strict` (/import?strict=0), any text the dedupe key's column holds."""
    if not strict:
        if isinstance(value, str) and 0 < len(value) <= limits.MAX_INSERT_ID_LENGTH:
            return None
        return field_problem(field, "must be a string of 1 to 36 characters")
    if not isinstance(value, str) or not _INSERT_ID.fullmatch(value):
        return field_problem(field, "must be 1 to 36 characters of letters, digits and '-'")
    if value.lower() in DISALLOWED_DISTINCT_IDS:
        return field_problem(field, "is a placeholder value that Mixpanel does not accept as an id")
    return None


def event_time_parse(
    value: Any, *, field: str, now: datetime, window: bool = True
) -> datetime | Problem:
    """Seconds or milliseconds since the epoch, from 1971-01-01 to one hour from now. Without
    `window` (/import?strict=0), any instant a date can hold."""
    if value.__class__ is int and _EARLIEST_SECONDS <= value < _MILLISECONDS_FROM:
        # The usual case, whole seconds since 1971, without the checks it cannot fail.
        if window and value > now.timestamp() + _AHEAD_SECONDS:
            return field_problem(field, "is more than one hour in the future")
        return _EPOCH + timedelta(seconds=value)
    if value is None:
        return field_problem(field, "is required: seconds or milliseconds since epoch")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return field_problem(field, "must be a number of seconds or milliseconds since epoch")
    if isinstance(value, int) and abs(value) > _LARGEST_TIME:
        # Checked first: an integer this large does not even convert to a float.
        return field_problem(field, "is not a time that can be stored (years 1 to 9999)")
    if not math.isfinite(value):
        return field_problem(field, "must be a number of seconds or milliseconds since epoch")
    seconds = value / 1000 if value >= _MILLISECONDS_FROM else value
    if window:
        if seconds < _EARLIEST_SECONDS:
            return field_problem(field, "is before 1971-01-01")
        if seconds > now.timestamp() + LATEST_EVENT_TIME_AHEAD.total_seconds():
            return field_problem(field, "is more than one hour in the future")
    try:
        if isinstance(value, int):
            # Integer arithmetic: the same integer always gives the same instant (dedupe key).
            if value >= _MILLISECONDS_FROM:
                return _EPOCH + timedelta(milliseconds=value)
            return _EPOCH + timedelta(seconds=value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return field_problem(field, "is not a time that can be stored (years 1 to 9999)")


def properties_problem(properties: dict, *, prefix: str) -> Problem | None:
    """Mixpanel's shape limits: property count, nesting depth, sizes of nested objects and lists."""
    if len(properties) > limits.MAX_PROPERTIES:
        return field_problem(
            prefix,
            f"has {len(properties)} properties; the limit is {limits.MAX_PROPERTIES}",
        )
    for name, value in properties.items():
        if value.__class__ in _SCALARS:  # the usual case, checked fastest
            continue
        if isinstance(value, dict | list):
            rule = _nested_value_problem(value, level=1)
            if rule is not None:
                return field_problem(property_field(prefix, name), rule)
    return None


def _nested_value_problem(value: dict | list, *, level: int) -> str | None:
    if level > limits.MAX_NESTING_DEPTH:
        return f"is nested deeper than {limits.MAX_NESTING_DEPTH} levels"
    if len(value) > limits.MAX_COLLECTION_ITEMS:
        kind = "a list" if isinstance(value, list) else "an object"
        return f"holds {kind} of {len(value)} items; the limit is {limits.MAX_COLLECTION_ITEMS}"
    for child in value if isinstance(value, list) else value.values():
        if isinstance(child, dict | list):
            rule = _nested_value_problem(child, level=level + 1)
            if rule is not None:
                return rule
    return None


def record_encoding_problem(record: Any, *, size_limited: bool = True) -> Problem | None:
    """Size (unless not `size_limited`: /import?strict=0), and text the databases cannot store
    (NUL, lone surrogates, infinities). Run after the shape checks where there are any, which
    bound the nesting that serializing walks through."""
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        return Problem(field="record", message="record is nested too deeply")
    except ValueError:
        # A literal such as 1e400 parses as infinity, which JSON (and jsonb) cannot hold.
        return Problem(field="record", message="record contains a number too large for JSON")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return Problem(field="record", message="record contains invalid Unicode (a lone surrogate)")
    if size_limited and size > limits.MAX_RECORD_BYTES:
        return Problem(
            field="record",
            message=f"record is {size} bytes of JSON; the limit is {limits.MAX_RECORD_BYTES}",
        )
    if "\\u0000" in text and _holds_nul(record):
        return Problem(
            field="record", message="record contains a NUL character, which cannot be stored"
        )
    return None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def project_by_token(token: Any, *, field: str, projects: dict[str, Project]) -> Project | Problem:
    """The project a record's token names, from the batch's `projects_by_token`."""
    if not isinstance(token, str) or not token:
        return field_problem(field, "is missing: the project token is required")
    project = projects.get(token)
    if project is None:
        return field_problem(field, "is not a known project token")
    return project
