"""The batches of a CCPA deletion by Categories or Sources (issue 18).

Categories: the properties (names and values) of the chosen categories leave the subjects'
events and profile; an event or profile keeps its other properties. Super properties are
event properties once sent, so they go with them. Sources: the events that came through the
chosen sources are removed, and the profile when "engage" is chosen. Each function is one
bounded batch, restricted to the project and the given ids, for the processor's short steps.
"""

from collections.abc import Sequence

from django.db import connection

from privacy_requests.deletions.scope import PROFILE_SOURCE
from privacy_requests.property_categories import property_category
from projects.models import Event
from projects.store import events_of_ids, profiles_of_ids

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


def events_strip_batch(
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    snapshot_max_event_id: int,
    after_id: int,
    size: int,
    categories: Sequence[str],
    tally: dict[str, int],
) -> tuple[int | None, int]:
    """Strips the categories from at most `size` events with id > after_id; returns (the last
    id read or None when none is left, events changed). Adds removed properties to `tally`."""
    rows = list(
        events_of_ids(
            project_id=project_id,
            distinct_ids=distinct_ids,
            snapshot_max_event_id=snapshot_max_event_id,
        )
        .filter(id__gt=after_id)
        .order_by("id")
        .values_list("id", "properties")[:size]
    )
    if not rows:
        return None, 0
    changed = []
    names: set[str] = set()
    for event_id, properties in rows:
        kept = _strip(properties or {}, categories, tally)
        if kept is not None:
            changed.append(Event(id=event_id, properties=kept))
            names.update(set(properties) - set(kept))
    if changed and connection.vendor == "postgresql":
        # One statement: jsonb minus the names, on these rows only (ids of this project's
        # subjects, read above); the values never travel back to the database.
        with connection.cursor() as cursor:
            cursor.execute(
                # The table's name is the model's, not input; names and ids are parameters.
                f"UPDATE {Event._meta.db_table} SET properties = properties - %s::text[] "  # noqa: S608
                "WHERE id = ANY(%s)",
                [sorted(names), [event.id for event in changed]],
            )
    else:
        Event.objects.bulk_update(changed, ["properties"], batch_size=500)
    return rows[-1][0], len(changed)


def profiles_strip(
    *, project_id: int, distinct_ids: Sequence[str], categories: Sequence[str], tally: dict
) -> int:
    """Strips the categories from these ids' profiles; returns how many changed."""
    changed = 0
    for profile in profiles_of_ids(project_id=project_id, distinct_ids=distinct_ids):
        kept = _strip(profile.properties or {}, categories, tally)
        if kept is not None:
            profile.properties = kept
            profile.save(update_fields=["properties"])
            changed += 1
    return changed


def events_of_sources_delete_batch(
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    snapshot_max_event_id: int,
    size: int,
    sources: Sequence[str],
) -> int:
    """Deletes at most `size` of these ids' events that came through `sources`."""
    events = events_of_ids(
        project_id=project_id,
        distinct_ids=distinct_ids,
        snapshot_max_event_id=snapshot_max_event_id,
    ).filter(source__in=list(sources))
    removed, _ = Event.objects.filter(id__in=events.values("id")[:size]).delete()
    return removed


def profiles_of_sources_delete(
    *, project_id: int, distinct_ids: Sequence[str], sources: Sequence[str]
) -> int:
    if PROFILE_SOURCE not in sources:
        return 0
    removed, _ = profiles_of_ids(project_id=project_id, distinct_ids=distinct_ids).delete()
    return removed
