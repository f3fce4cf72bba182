"""The rows a batch's records become, and the usual record's quick way to its row.

A batch of 2,000 events spent half its Python time in the per-record checks, most of it on the
generality that few records need (nested properties, identity events, $user_id/$device_id,
derived $insert_ids, refusals). `plain_event_parse` takes the usual record in one pass and
hands anything else to the full parse, which decides; both give the same row.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projects.identity import LinkRequest
from projects.ingestion import limits
from projects.ingestion.event_fields import event_source
from projects.ingestion.outcome import Endpoint
from projects.ingestion.validation import (
    Problem,
    distinct_id_normalize,
    event_time_parse,
    insert_id_problem,
)
from projects.models import EVENT_COLUMN_PROPERTIES, Project

# What ingestion leaves out of an event's stored `properties`: what its columns keep, and the
# project token.
UNSTORED_PROPERTIES = frozenset({"token", *EVENT_COLUMN_PROPERTIES})
IDENTITY_EVENTS = frozenset({"$create_alias", "$identify", "$merge"})
_NESTING = (dict, list)
_SCALARS = frozenset({str, int, float, bool, type(None)})

ProjectResolver = Callable[[Any], Project | Problem]


@dataclass(slots=True)
class EventRow:
    index: int
    # Values in the order of event_store.EVENT_COLUMNS (project as its id).
    values: tuple[Any, ...]
    distinct_ids: tuple[str, ...]
    device_link: LinkRequest | None


@dataclass(slots=True)
class IdentityRow:
    index: int
    link: LinkRequest
    field: str
    insert_id: str | None

    @property
    def distinct_ids(self) -> tuple[str, ...]:
        return (self.link.distinct_id, self.link.canonical_id)


def plain_event_parse(
    record: Any, *, index: int, endpoint: Endpoint, now: datetime, resolve: ProjectResolver
) -> tuple[Project, EventRow] | None:
    """The usual record of a strict batch, in one pass: an ordinary event whose properties are
    all scalars, with its own distinct_id and $insert_id, and neither $user_id nor $device_id.
    None for anything else, and for anything the checks would refuse: the full parse then
    decides, so this gives exactly the row the full parse gives, only sooner. The caller
    knows from the JSON text that the record's encoding needs no check (`encodable`)."""
    if record.__class__ is not dict:
        return None
    properties = record.get("properties")
    name = record.get("event")
    if (
        properties.__class__ is not dict
        or name.__class__ is not str
        or not 0 < len(name) <= limits.MAX_EVENT_NAME_LENGTH
        or name in IDENTITY_EVENTS
        or not name.strip()
        or len(properties) > limits.MAX_PROPERTIES
        or not nests_only_properties(record)
        or properties.get("$user_id") is not None
        or properties.get("$device_id") is not None
    ):
        return None
    project = resolve(properties.get("token"))
    distinct_id = properties.get("distinct_id")
    insert_id = properties.get("$insert_id")
    if (
        isinstance(project, Problem)
        or distinct_id.__class__ is not str
        or distinct_id == ""
        or insert_id.__class__ is not str
        or insert_id_problem(insert_id, field="properties.$insert_id") is not None
        or isinstance(distinct_id_normalize(distinct_id, field="properties.distinct_id"), Problem)
    ):
        return None
    time = properties.get("time")
    if time is None and endpoint == Endpoint.TRACK:
        time = now
    else:
        time = event_time_parse(time, field="properties.time", now=now)
        if isinstance(time, Problem):
            return None
    # The shape check and the truncation in one pass: scalars only, long text cut.
    stored = {}
    for key, value in properties.items():
        kind = value.__class__
        if kind is str:
            if len(value) > limits.MAX_STRING_LENGTH:
                value = value[: limits.MAX_STRING_LENGTH]
        elif kind not in _SCALARS:
            return None
        if key not in UNSTORED_PROPERTIES:
            stored[key] = value
    values = (
        project.pk,
        distinct_id,
        name,
        time,
        insert_id,
        stored,
        event_source(endpoint, properties),
        now,
    )
    return project, EventRow(
        index=index, values=values, distinct_ids=(distinct_id,), device_link=None
    )


def nests_only_properties(record: dict) -> bool:
    for name, value in record.items():
        if value.__class__ in _NESTING and name != "properties":
            return False
    return True
