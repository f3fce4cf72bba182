"""What a CCPA deletion by Categories or Sources would remove now, for the preview page
(issue 18): per category, the property values it removes from the reached ids' events and
profiles; per source, their events (and "engage", their profiles), chosen or kept."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count

from privacy_requests.deletions.scope import PROFILE_SOURCE
from privacy_requests.models import Disclosure
from privacy_requests.property_categories import CATEGORIES, property_category
from projects.store import events_of_ids, events_paged, events_snapshot_now, profiles_of_ids


@dataclass(frozen=True)
class ScopeRow:
    key: str
    name: str
    removed: bool
    events: int  # categories: events holding a property of it; sources: its events
    values: int  # categories: property values in events and profiles; sources: 0
    profiles: int
    names: tuple[str, ...] = ()


def deletion_scope_preview(
    *, project_id: int, distinct_ids: Sequence[str], disclosure: str, scope: Sequence[str]
) -> list[ScopeRow]:
    """One row per category or source the ids' data holds (chosen ones first); [] for Data."""
    if disclosure == Disclosure.CATEGORIES:
        rows = _categories(project_id, distinct_ids, scope)
    elif disclosure == Disclosure.SOURCES:
        rows = _sources(project_id, distinct_ids, scope)
    else:
        return []
    return sorted(rows, key=lambda row: not row.removed)


def _categories(project_id: int, distinct_ids: Sequence[str], chosen: Sequence[str]):
    tally: dict[str, list] = {c.key: [0, 0, 0, set()] for c in CATEGORIES}
    events = events_paged(
        events_of_ids(
            project_id=project_id, distinct_ids=distinct_ids, snapshot_at=events_snapshot_now()
        ),
        project_id=project_id,
        distinct_ids=distinct_ids,
        fields=["properties"],
        page=2000,
    )
    # At most one profile an id: fetched at once, without a server-side cursor.
    profiles = profiles_of_ids(project_id=project_id, distinct_ids=distinct_ids).values_list(
        "properties"
    )
    for index, rows in ((0, events), (2, iter(list(profiles)))):
        for (properties,) in rows:
            seen = set()
            for name in properties or {}:
                key = property_category(name).key
                tally[key][1] += 1
                tally[key][3].add(name)
                seen.add(key)
            for key in seen:
                tally[key][index] += 1
    return [
        ScopeRow(
            key=c.key,
            name=c.name,
            removed=c.key in chosen,
            events=tally[c.key][0],
            values=tally[c.key][1],
            profiles=tally[c.key][2],
            names=tuple(sorted(tally[c.key][3])),
        )
        for c in CATEGORIES
        if tally[c.key][1] or c.key in chosen
    ]


def _sources(project_id: int, distinct_ids: Sequence[str], chosen: Sequence[str]):
    counts = dict(
        events_of_ids(
            project_id=project_id,
            distinct_ids=distinct_ids,
            snapshot_at=events_snapshot_now(),
        )
        .order_by()
        .values_list("source")
        .annotate(n=Count("*"))
    )
    rows = [
        ScopeRow(key=source, name=source, removed=source in chosen, events=n, values=0, profiles=0)
        for source, n in sorted(counts.items())
    ]
    profiles = profiles_of_ids(project_id=project_id, distinct_ids=distinct_ids).count()
    rows.append(
        ScopeRow(
            key=PROFILE_SOURCE,
            name=PROFILE_SOURCE,
            removed=PROFILE_SOURCE in chosen,
            events=0,
            values=0,
            profiles=profiles,
        )
    )
    # A chosen source the ids' data does not hold removes nothing: say so.
    rows += [
        ScopeRow(key=s, name=s, removed=True, events=0, values=0, profiles=0)
        for s in chosen
        if s not in counts and s != PROFILE_SOURCE
    ]
    return rows
