"""The batches of a CCPA deletion by Categories or Sources (issue 18).

Categories: the properties (names and values) of the chosen categories leave the subjects'
events and profile; an event or profile keeps its other properties. Super properties are
event properties once sent, so they go with them. Sources: the events that came through the
chosen sources are removed, and the profile when "engage" is chosen. Each function is one
bounded batch, restricted to the project and the given ids, for the processor's short steps.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection
from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

from privacy_requests.deletions.scope import PROFILE_SOURCE
from privacy_requests.property_categories import property_category
from projects.models import Event, Profile
from projects.store import events_of_ids, profiles_of_ids
from projects.store_deletes import profiles_properties_set, store_rows_delete, store_rows_update

# Counts keys: "properties:<category>" = property values removed in that category.
PROPERTY_COUNT_PREFIX = "properties:"


def _strip(properties: dict, categories: Sequence[str], tally: dict[str, int]) -> dict | None:
    """The properties without the chosen categories', or None when nothing is removed."""
    removed = [name for name in properties if property_category(name).key in categories]
    if not removed:
        return None
    for name in removed:
        key = PROPERTY_COUNT_PREFIX + property_category(name).key
        tally[key] = tally.get(key, 0) + 1
    return {name: value for name, value in properties.items() if name not in removed}


# An event's natural key, the order of the (project, distinct_id, time, name, insert_id) index:
# the cursor of the strip batches.
EVENT_KEY = ("distinct_id", "time", "name", "insert_id")
EventKey = tuple[str, datetime, str, str]


def events_strip_batch(
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    snapshot_at: datetime,
    after: EventKey | None,
    size: int,
    categories: Sequence[str],
    tally: dict[str, int],
) -> tuple[EventKey | None, int]:
    """Strips the categories from at most `size` events whose key is past `after`; returns
    (the last key read, or None when none is left; events changed). Adds removed properties
    to `tally`."""
    events = events_of_ids(
        project_id=project_id, distinct_ids=distinct_ids, snapshot_at=snapshot_at
    )
    if after is not None:
        events = events.filter(TupleGreaterThan(Tuple(*(F(name) for name in EVENT_KEY)), after))
    postgresql = connection.vendor == "postgresql"
    fields = [*EVENT_KEY, "properties"] if postgresql else [*EVENT_KEY, "properties", "pk"]
    rows = list(events.order_by(*EVENT_KEY).values_list(*fields)[:size])
    if not rows:
        return None, 0
    changed = []
    names: set[str] = set()
    for row in rows:
        properties = row[4]
        kept = _strip(properties or {}, categories, tally)
        if kept is not None:
            changed.append(row)
            names.update(set(properties) - set(kept))
    last: EventKey = tuple(rows[-1][:4])
    if changed and postgresql:
        # One statement, routed by the changed rows' distinct_ids: jsonb minus the names, on
        # the rows of this key range that hold one of them (those read above); the values
        # never travel back to the database.
        key = "(distinct_id, time, name, insert_id)"
        where = f"AND ingested_at <= %s AND {key} <= (%s, %s, %s, %s) AND properties ?| %s"
        params: list = [snapshot_at, *last, sorted(names)]
        if after is not None:
            where += f" AND {key} > (%s, %s, %s, %s)"
            params += list(after)
        store_rows_update(
            Event,
            project_id=project_id,
            distinct_ids=sorted({row[0] for row in changed}),
            assignments="properties = properties - %s::text[]",
            assignment_params=[sorted(names)],
            where=where,
            params=params,
        )
    elif changed:
        stripped = [Event(pk=row[5], properties=_strip(row[4], categories, {})) for row in changed]
        Event.objects.bulk_update(stripped, ["properties"], batch_size=500)
    return last, len(changed)


def profiles_strip(
    *, project_id: int, distinct_ids: Sequence[str], categories: Sequence[str], tally: dict
) -> int:
    """Strips the categories from these ids' profiles; returns how many changed."""
    rows = profiles_of_ids(project_id=project_id, distinct_ids=distinct_ids).values_list(
        "distinct_id", "properties"
    )
    stripped = []
    for distinct_id, properties in rows:
        kept = _strip(properties or {}, categories, tally)
        if kept is not None:
            stripped.append((distinct_id, kept))
    # One UPDATE per 300 profiles, routed by their distinct_ids (projects.store_deletes).
    return profiles_properties_set(project_id=project_id, properties=stripped)


def profiles_of_sources_delete(
    *, project_id: int, distinct_ids: Sequence[str], sources: Sequence[str]
) -> int:
    if PROFILE_SOURCE not in sources:
        return 0
    return store_rows_delete(Profile, project_id=project_id, distinct_ids=distinct_ids)
