"""The end-user data store as privacy requests read and delete it: one project's events,
profiles and identity links of a set of distinct_ids.

The queries go through the indexes led by (project, distinct_id): the events' dedupe index,
whose (project, distinct_id, time) prefix also serves a time window, and the unique indexes of
profiles and links (a cluster's root is found through the links' (project, canonical_id)
index). Functions with `of_ids` in their name take one chunk of ids, one IN list; the others
chunk the ids themselves (projects.chunking). Nothing here loops per row.
"""

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import F, Max, QuerySet
from django.db.models.functions import Collate

from projects.chunking import in_chunks
from projects.identity_removal import IdentityRemoval, identity_of_ids_remove
from projects.models import Event, IdentityLink, IdentityLinkRecord, Profile


def events_snapshot_bound() -> int:
    """The highest event id stored now (0 when there is none): a later event has a higher id,
    so `id <= bound` keeps the events that existed at this moment."""
    return Event.objects.aggregate(top=Max("id"))["top"] or 0


def events_of_ids(
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    snapshot_max_event_id: int,
    window: tuple[datetime, datetime] | None = None,
) -> QuerySet[Event]:
    """The events of these ids up to the snapshot, within `window` (first, last: both
    included) when given; unordered, for the caller to order, annotate or stream."""
    events = Event.objects.filter(
        project_id=project_id, distinct_id__in=distinct_ids, id__lte=snapshot_max_event_id
    )
    if window is not None:
        events = events.filter(time__gte=window[0], time__lte=window[1])
    return events


def profiles_of_ids(*, project_id: int, distinct_ids: Sequence[str]) -> QuerySet[Profile]:
    return Profile.objects.filter(project_id=project_id, distinct_id__in=distinct_ids)


def identity_links_of_ids(
    *, project_id: int, distinct_ids: Sequence[str]
) -> QuerySet[IdentityLink]:
    """The links whose distinct_id is one of these ids. For a set of whole clusters these are
    all its links: a cluster's root has no row of its own."""
    return IdentityLink.objects.filter(project_id=project_id, distinct_id__in=distinct_ids)


@dataclass(frozen=True)
class SubjectLink:
    """A cluster row between two subjects, with how it was formed (`authenticated` and
    `endpoint` are None for rows older than provenance)."""

    distinct_id: str
    canonical_id: str
    kind: str
    linked_at: datetime
    authenticated: bool | None
    endpoint: str | None


def identity_links_among(
    *, project_id: int, distinct_ids: Sequence[str], subjects: Collection[str]
) -> Iterator[SubjectLink]:
    """The cluster rows of one chunk of subjects whose root is a subject too, ordered by
    distinct_id: a subject set that is not whole clusters (ids left out, public members not
    followed) names no one outside it."""
    rows = (
        identity_links_of_ids(project_id=project_id, distinct_ids=distinct_ids)
        .order_by(_code_point_order())
        .values_list(
            "distinct_id", "canonical_id", "kind", "created_at", "authenticated", "record__endpoint"
        )
    )
    # At most one row a subject (its link to its root): fetched at once, without a server-side
    # cursor's DECLARE and stored copy of the result.
    for distinct_id, canonical_id, kind, linked_at, authenticated, endpoint in rows:
        if canonical_id in subjects:
            yield SubjectLink(
                distinct_id=distinct_id,
                canonical_id=canonical_id,
                kind=kind,
                linked_at=linked_at,
                authenticated=authenticated if endpoint is not None else None,
                endpoint=endpoint,
            )


def link_records_among(
    *, project_id: int, distinct_ids: Sequence[str], subjects: Collection[str]
) -> Iterator[IdentityLinkRecord]:
    """The link records that one chunk of subjects asked for (their distinct_id) and that name
    a subject as the other id: what describes the subject set and no one else."""
    records = IdentityLinkRecord.objects.filter(
        project_id=project_id, distinct_id__in=distinct_ids
    ).order_by(_code_point_order(), "canonical_id", "kind", "first_seen_at", "id")
    for record in records.iterator(chunk_size=2000):
        if record.canonical_id in subjects:
            yield record


def _code_point_order() -> F | Collate:
    # The "C" collation on PostgreSQL; SQLite's default (BINARY) is code-point order already.
    if connection.vendor == "postgresql":
        return Collate(F("distinct_id"), "C")
    return F("distinct_id")


def ids_with_rows(
    *, project_id: int, distinct_ids: Sequence[str], snapshot_max_event_id: int
) -> set[str]:
    """Which of these ids have any event (up to the snapshot), profile, identity link or link
    record."""
    found: set[str] = set()
    for chunk in in_chunks(distinct_ids):
        found.update(
            _ids_with_events(
                project_id=project_id,
                distinct_ids=chunk,
                snapshot_max_event_id=snapshot_max_event_id,
            )
        )
        found.update(
            profiles_of_ids(project_id=project_id, distinct_ids=chunk).values_list(
                "distinct_id", flat=True
            )
        )
        found.update(
            identity_links_of_ids(project_id=project_id, distinct_ids=chunk).values_list(
                "distinct_id", flat=True
            )
        )
        found.update(
            IdentityLink.objects.filter(project_id=project_id, canonical_id__in=chunk).values_list(
                "canonical_id", flat=True
            )
        )
        records = IdentityLinkRecord.objects.filter(project_id=project_id)
        found.update(records.filter(distinct_id__in=chunk).values_list("distinct_id", flat=True))
        found.update(records.filter(canonical_id__in=chunk).values_list("canonical_id", flat=True))
    return found


def _ids_with_events(
    *, project_id: int, distinct_ids: Sequence[str], snapshot_max_event_id: int
) -> list[str]:
    if connection.vendor == "postgresql":
        # One index probe per id that stops at its first event, where DISTINCT reads them all.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.distinct_id FROM unnest(%s::text[]) AS s(distinct_id) WHERE EXISTS ("
                "SELECT 1 FROM projects_event e WHERE e.project_id = %s "
                "AND e.distinct_id = s.distinct_id AND e.id <= %s)",
                [list(distinct_ids), project_id, snapshot_max_event_id],
            )
            return [row[0] for row in cursor.fetchall()]
    events = events_of_ids(
        project_id=project_id,
        distinct_ids=distinct_ids,
        snapshot_max_event_id=snapshot_max_event_id,
    )
    return list(events.values_list("distinct_id", flat=True).distinct())


def events_of_ids_delete_batch(
    *, project_id: int, distinct_ids: Sequence[str], snapshot_max_event_id: int, size: int
) -> int:
    """Deletes at most `size` of these ids' events up to the snapshot; returns how many. One
    statement, DELETE ... WHERE id IN (SELECT id ... LIMIT size): no id travels to Python."""
    events = events_of_ids(
        project_id=project_id,
        distinct_ids=distinct_ids,
        snapshot_max_event_id=snapshot_max_event_id,
    )
    removed, _ = Event.objects.filter(id__in=events.values("id")[:size]).delete()
    return removed


def profiles_of_ids_delete(*, project_id: int, distinct_ids: Sequence[str]) -> int:
    removed, _ = profiles_of_ids(project_id=project_id, distinct_ids=distinct_ids).delete()
    return removed


def identity_of_ids_delete(*, project_id: int, distinct_ids: Sequence[str]) -> IdentityRemoval:
    """Removes one chunk of subjects from their clusters, and every link record that names
    them (projects.identity_removal)."""
    return identity_of_ids_remove(project_id=project_id, distinct_ids=distinct_ids)


@dataclass(frozen=True)
class RowCounts:
    events: int
    profiles: int
    identity_links: int


def rows_count(*, project_id: int, distinct_ids: Sequence[str]) -> RowCounts:
    """How many events (all of them, whatever their id), profiles and identity links these
    ids have now."""
    events = profiles = links = 0
    for chunk in in_chunks(distinct_ids):
        events += Event.objects.filter(project_id=project_id, distinct_id__in=chunk).count()
        profiles += profiles_of_ids(project_id=project_id, distinct_ids=chunk).count()
        links += identity_links_of_ids(project_id=project_id, distinct_ids=chunk).count()
    return RowCounts(events=events, profiles=profiles, identity_links=links)
