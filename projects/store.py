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
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan
from django.db.models.functions import Collate
from django.utils import timezone

from projects.chunking import in_chunks
from projects.identity_removal import IdentityRemoval, identity_of_ids_remove
from projects.models import Event, IdentityLink, IdentityLinkRecord, Profile
from projects.store_deletes import event_counts, store_rows_delete


def events_snapshot_now() -> datetime:
    """A request's snapshot: the events with `ingested_at <= snapshot` are the ones it covers.

    Ingestion stamps `ingested_at` with `timezone.now()` of the process that takes the batch
    (projects.ingestion.events), so the snapshot is read from the same clock, not the
    database's: app hosts keep their clocks in step (NTP), as for every other time the product
    shows. Not an event id: ids do not grow across the shards of a distributed store. A later
    copy of a stored event (same dedupe key) replaces its `ingested_at` with the copy's, so a
    copy that arrives after the snapshot is past it, like a new event; an event whose batch
    was stamped before the snapshot but committed after it is inside it (a deletion removes
    it, an export that reads it after the commit includes it)."""
    return timezone.now()


def events_of_ids(
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    snapshot_at: datetime,
    window: tuple[datetime, datetime] | None = None,
) -> QuerySet[Event]:
    """The events of these ids up to the snapshot, within `window` (first, last: both
    included) when given; unordered, for the caller to order, annotate or stream. The
    snapshot is a filter on the rows the (project, distinct_id, time, …) index finds."""
    events = Event.objects.filter(
        project_id=project_id, distinct_id__any=distinct_ids, ingested_at__lte=snapshot_at
    )
    if window is not None:
        events = events.filter(time__gte=window[0], time__lte=window[1])
    return events


def profiles_of_ids(*, project_id: int, distinct_ids: Sequence[str]) -> QuerySet[Profile]:
    return Profile.objects.filter(project_id=project_id, distinct_id__any=distinct_ids)


def identity_links_of_ids(
    *, project_id: int, distinct_ids: Sequence[str]
) -> QuerySet[IdentityLink]:
    """The links whose distinct_id is one of these ids. For a set of whole clusters these are
    all its links: a cluster's root has no row of its own."""
    return IdentityLink.objects.filter(project_id=project_id, distinct_id__any=distinct_ids)


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
    # A few ids a query, each query's rows fetched at once: memory stays flat without a
    # server-side cursor (a DECLARE, which a distributed store handles badly).
    for ids in in_chunks(sorted(set(distinct_ids)), _RECORD_IDS_A_QUERY):
        records = IdentityLinkRecord.objects.filter(
            project_id=project_id, distinct_id__any=ids
        ).order_by(_code_point_order(), "canonical_id", "kind", "first_seen_at", "id")
        for record in list(records):
            if record.canonical_id in subjects:
                yield record


_RECORD_IDS_A_QUERY = 500


def _code_point_order() -> F | Collate:
    # The "C" collation on PostgreSQL; SQLite's default (BINARY) is code-point order already.
    if connection.vendor == "postgresql":
        return Collate(F("distinct_id"), "C")
    return F("distinct_id")


def ids_with_rows(
    *, project_id: int, distinct_ids: Sequence[str], snapshot_at: datetime
) -> set[str]:
    """Which of these ids have any event (up to the snapshot), profile, identity link or link
    record."""
    if connection.vendor == "postgresql":
        return _ids_with_rows_probed(
            project_id=project_id, distinct_ids=distinct_ids, snapshot_at=snapshot_at
        )
    found: set[str] = set()
    for chunk in in_chunks(distinct_ids):
        events = events_of_ids(project_id=project_id, distinct_ids=chunk, snapshot_at=snapshot_at)
        found.update(events.values_list("distinct_id", flat=True).distinct())
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


# One statement for every id: an index probe per id and table that stops at the first row,
# the tables in the order that finds most ids soonest (OR stops at the first EXISTS that holds).
_IDS_WITH_ROWS_SQL = """
    SELECT s.id FROM unnest(%(ids)s::text[]) AS s(id) WHERE
    EXISTS (SELECT 1 FROM projects_event e WHERE e.project_id = %(project)s
            AND e.distinct_id = s.id AND e.ingested_at <= %(snapshot)s)
    OR EXISTS (SELECT 1 FROM projects_profile p WHERE p.project_id = %(project)s
               AND p.distinct_id = s.id)
    OR EXISTS (SELECT 1 FROM projects_identitylink l WHERE l.project_id = %(project)s
               AND l.distinct_id = s.id)
    OR EXISTS (SELECT 1 FROM projects_identitylink l WHERE l.project_id = %(project)s
               AND l.canonical_id = s.id)
    OR EXISTS (SELECT 1 FROM projects_identitylinkrecord r WHERE r.project_id = %(project)s
               AND r.distinct_id = s.id)
    OR EXISTS (SELECT 1 FROM projects_identitylinkrecord r WHERE r.project_id = %(project)s
               AND r.canonical_id = s.id)
"""


def _ids_with_rows_probed(
    *, project_id: int, distinct_ids: Sequence[str], snapshot_at: datetime
) -> set[str]:
    found: set[str] = set()
    with connection.cursor() as cursor:
        for chunk in in_chunks(list(dict.fromkeys(distinct_ids))):
            cursor.execute(
                _IDS_WITH_ROWS_SQL,
                {"ids": list(chunk), "project": project_id, "snapshot": snapshot_at},
            )
            found.update(row[0] for row in cursor.fetchall())
    return found


def profiles_of_ids_delete(*, project_id: int, distinct_ids: Sequence[str]) -> int:
    return store_rows_delete(Profile, project_id=project_id, distinct_ids=distinct_ids)


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
        events += Event.objects.filter(project_id=project_id, distinct_id__any=chunk).count()
        profiles += profiles_of_ids(project_id=project_id, distinct_ids=chunk).count()
        links += identity_links_of_ids(project_id=project_id, distinct_ids=chunk).count()
    return RowCounts(events=events, profiles=profiles, identity_links=links)


# An event's natural key, the order of its (project, distinct_id, time, name, insert_id) index.
EVENT_KEY = ("distinct_id", "time", "name", "insert_id")


def events_paged(
    events: QuerySet[Event],
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    fields: Sequence[str],
    page: int,
) -> Iterator[tuple]:
    """The `fields` of `events` (a filter of these ids' events), a page of about `page` rows
    per query, so that memory stays flat without a server-side cursor (a DECLARE, which a
    distributed store handles badly). In code-point order of distinct_id, then by time, name
    and insert_id. Ids are taken whole, as many a page as their counts allow (an index-only
    count first); an id with more events than a page is read by keyset on (time, name,
    insert_id) after the last row, each page an ordered range scan of the index."""
    ids = sorted(set(distinct_ids))
    counts = event_counts(project_id=project_id, distinct_ids=ids)
    group: list[str] = []
    total = 0
    for distinct_id in ids:
        count = counts.get(distinct_id, 0)
        if not count:
            continue
        if group and total + count > page:
            yield from _rows_of(events, group, fields)
            group, total = [], 0
        if count > page:
            yield from _rows_by_keyset(events, distinct_id, fields, page)
            continue
        group.append(distinct_id)
        total += count
    if group:
        yield from _rows_of(events, group, fields)


def _rows_of(events: QuerySet[Event], ids: list[str], fields: Sequence[str]) -> list[tuple]:
    rows = events.filter(distinct_id__any=ids).order_by(_code_point_order(), *EVENT_KEY[1:])
    return list(rows.values_list(*fields))


def _rows_by_keyset(
    events: QuerySet[Event], distinct_id: str, fields: Sequence[str], page: int
) -> Iterator[tuple]:
    key = EVENT_KEY[1:]
    own = events.filter(distinct_id=distinct_id).order_by(*key)
    after = None
    while True:
        rows = own
        if after is not None:
            rows = rows.filter(TupleGreaterThan(Tuple(*(F(name) for name in key)), after))
        found = list(rows.values_list(*key, *fields)[:page])
        for row in found:
            yield row[len(key) :]
        if len(found) < page:
            return
        after = found[-1][: len(key)]
