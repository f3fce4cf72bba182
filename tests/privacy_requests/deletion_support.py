"""Helpers of the deletion tests: the end-user data store as comparable sets of rows."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from projects.models import Event, IdentityLink, IdentityLinkRecord, Profile

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def store_rows() -> dict[str, set[tuple]]:
    """Every row of every project, as hashable tuples of all their columns."""
    return {
        "events": {
            (
                row.id,
                row.project_id,
                row.distinct_id,
                row.name,
                row.time,
                row.insert_id,
                json.dumps(row.properties, sort_keys=True),
                row.source,
                row.ingested_at,
            )
            for row in Event.objects.all()
        },
        "profiles": {
            (
                row.id,
                row.project_id,
                row.distinct_id,
                json.dumps(row.properties, sort_keys=True),
                row.updated_at,
            )
            for row in Profile.objects.all()
        },
        "identities": {
            (
                row.id,
                row.project_id,
                row.distinct_id,
                row.canonical_id,
                row.kind,
                row.created_at,
                row.authenticated,
                row.record_id,
            )
            for row in IdentityLink.objects.all()
        },
        "identity_evidence": {
            (
                row.id,
                row.project_id,
                row.distinct_id,
                row.canonical_id,
                row.kind,
                row.authenticated,
                row.outcome,
                row.reason,
                row.endpoint,
                row.insert_id,
                row.first_seen_at,
                row.last_seen_at,
                row.count,
            )
            for row in IdentityLinkRecord.objects.all()
        },
    }


def rows_without(
    rows: dict[str, set[tuple]], *, project_id: int, distinct_ids: set[str]
) -> dict[str, set[tuple]]:
    """The rows that are not the given ids' rows in the project (column 1 is the project,
    column 2 the distinct_id in each table; a link record is also theirs when it names one of
    them in column 3, its canonical_id)."""

    def theirs(table: str, row: tuple) -> bool:
        if row[1] != project_id:
            return False
        return row[2] in distinct_ids or (table == "identity_evidence" and row[3] in distinct_ids)

    return {
        table: {row for row in table_rows if not theirs(table, row)}
        for table, table_rows in rows.items()
    }


def checksum(rows: dict[str, set[tuple]]) -> dict[str, tuple[int, str]]:
    """Per table: how many rows, and a sha256 over all of them in a fixed order."""
    return {
        table: (
            len(table_rows),
            hashlib.sha256(repr(sorted(table_rows, key=repr)).encode()).hexdigest(),
        )
        for table, table_rows in rows.items()
    }


def events_add(
    project, distinct_id: str, count: int, *, start: datetime = T0, properties: dict | None = None
) -> None:
    Event.objects.bulk_create(
        Event(
            project=project,
            distinct_id=distinct_id,
            name=f"Event {n % 3}",
            time=start + timedelta(minutes=n),
            insert_id=f"{distinct_id[:20]}-{n}",
            properties=properties or {"n": n},
            source="track/python 5.4.1",
            ingested_at=timezone.now(),
        )
        for n in range(count)
    )


def profile_add(project, distinct_id: str, properties: dict | None = None) -> Profile:
    return Profile.objects.create(
        project=project,
        distinct_id=distinct_id,
        properties=properties or {"$name": distinct_id},
        updated_at=timezone.now(),
    )
