"""What an export package holds, read from the end-user data store in Mixpanel's export shapes.

Every reader takes one chunk of the subject set and reads its rows without a server-side cursor
(a DECLARE, which a distributed store handles badly): events with COPY on PostgreSQL, else a page
a query (projects.store.events_paged: whole subjects, or one subject's events by keyset); link
records a few subjects a query; profiles and identity links, at most one a subject, a chunk at
once. So memory does not grow with the export. Chunks are contiguous in code-point order of
distinct_id and the database orders by the same (the "C" collation on PostgreSQL, SQLite's
default), so a whole file is sorted by distinct_id.
"""

import json
import math
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.db import NotSupportedError, connection, transaction
from django.db.models import Count, F, Func, Max, Min, TextField
from django.db.models.functions import Collate

from privacy_requests.engine.run import snapshot_of
from privacy_requests.engine.subjects import event_window, subject_events
from privacy_requests.exports.package import iso_utc, json_text
from privacy_requests.models import PrivacyRequest
from projects.models import EVENT_COLUMN_PROPERTIES
from projects.store import events_paged, identity_links_among, link_records_among, profiles_of_ids


class LineOut(Protocol):
    def write(self, line: bytes, /) -> object: ...


# Rows fetched from the cursor at a time.
FETCH_ROWS = 2000
# PostgreSQL's work_mem for the sort of one chunk's events (a chunk of 500 subjects here
# sorted 13 MB; the server default is 4 MB).
EXPORT_SORT_MEMORY = "64MB"


def _by_distinct_id():
    if connection.vendor == "postgresql":
        return Collate(F("distinct_id"), "C")
    return F("distinct_id")  # SQLite's default collation is BINARY: code-point order


class StoredPropertiesText(Func):
    """An event's stored properties as JSON text, without the keys its columns hold: the rest of
    its export record, which needs no decoding and encoding in Python."""

    output_field = TextField()

    def as_sql(self, compiler, connection, *args, **extra_context):
        raise NotSupportedError("Exports support PostgreSQL and SQLite.")

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        removed = "".join(f" - '{key}'" for key in EVENT_COLUMN_PROPERTIES)
        return f"(({sql}){removed})::text", params

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        paths = ", ".join(f"'$.\"{key}\"'" for key in EVENT_COLUMN_PROPERTIES)
        return f"json_remove({sql}, {paths})", params


def unix_seconds(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def event_line(
    *, distinct_id: str, name: str, time: datetime, insert_id: str, rest: str | None
) -> str:
    """One line of events.jsonl: `{"event", "properties": {"time", "distinct_id", "$insert_id",
    …stored properties}}`, as Mixpanel's raw export writes it."""
    head = (
        f'{{"event":{json_text(name)},"properties":{{"time":{unix_seconds(time)},'
        f'"distinct_id":{json_text(distinct_id)},"$insert_id":{json_text(insert_id)}'
    )
    if not rest or rest == "{}":
        return head + "}}\n"
    if rest[0] == "{":
        return head + "," + rest[1:] + "}\n"
    # Not an object (ingestion never stores one): kept whole rather than dropped.
    return head + ',"$stored_properties":' + rest + "}}\n"


# The line `event_line` makes, made by PostgreSQL from one event `e` and its stored properties
# as text without the keys its columns hold (`r.rest`: computed once, in a LATERAL subquery that
# OFFSET 0 keeps the planner from inlining, where the CASE would compute it three times).
_EVENT_LINES_SQL = """
    SELECT '{"event":' || to_json(e.name)::text
        || ',"properties":{"time":' || floor(extract(epoch FROM e.time))::bigint
        || ',"distinct_id":' || to_json(e.distinct_id)::text
        || ',"$insert_id":' || to_json(e.insert_id)::text
        || CASE WHEN r.rest = '{}' THEN '}}'
                WHEN left(r.rest, 1) = '{' THEN ',' || substr(r.rest, 2) || '}'
                ELSE ',"$stored_properties":' || r.rest || '}}' END
    FROM projects_event e
    CROSS JOIN LATERAL (SELECT (e.properties - %s::text[])::text AS rest OFFSET 0) r
    WHERE e.project_id = %s AND e.distinct_id = ANY(%s::text[]) AND e.ingested_at <= %s {window}
    ORDER BY e.distinct_id COLLATE "C", e.time, e.name, e.insert_id
"""


def event_lines_write(request: PrivacyRequest, chunk: Sequence[str], out: LineOut) -> None:
    """Writes the events.jsonl lines of one chunk of subjects to `out`, in order, one `write`
    a line, each UTF-8 with its newline."""
    if connection.vendor == "postgresql":
        window = event_window(request)
        event_lines_copy(
            project_id=request.project_id,
            distinct_ids=chunk,
            snapshot_at=snapshot_of(request),
            window=window,
            out=out,
        )
        return
    rows = events_pages(
        request,
        chunk,
        "distinct_id",
        "name",
        "time",
        "insert_id",
        StoredPropertiesText("properties"),
    )
    for distinct_id, name, time, insert_id, rest in rows:
        line = event_line(
            distinct_id=distinct_id, name=name, time=time, insert_id=insert_id, rest=rest
        )
        out.write(line.encode())


def events_pages(request: PrivacyRequest, chunk: Sequence[str], *fields) -> Iterator[tuple]:
    """The subjects' events the request covers, a page of about FETCH_ROWS rows a query."""
    return events_paged(
        subject_events(request, chunk).annotate(
            **{f"f{n}": field for n, field in enumerate(fields) if not isinstance(field, str)}
        ),
        project_id=request.project_id,
        distinct_ids=chunk,
        fields=[field if isinstance(field, str) else f"f{n}" for n, field in enumerate(fields)],
        page=FETCH_ROWS,
    )


def event_lines_copy(
    *,
    project_id: int,
    distinct_ids: Sequence[str],
    snapshot_at: datetime,
    window: tuple[datetime, datetime] | None,
    out: LineOut,
) -> None:
    """PostgreSQL: the server formats each line and streams them with COPY, which needs no
    cursor (a WITH HOLD cursor outside a transaction makes the server store the whole result
    before the first fetch) and no decoding and encoding of rows in Python.

    COPY's text format ends each row with a newline and escapes a backslash as two, and
    otherwise only control characters, which JSON text never holds raw (to_json and jsonb
    escape them). libpq hands over one row at a time, so a row is never cut between the two
    characters of an escaped backslash."""
    params: list = [list(EVENT_COLUMN_PROPERTIES), project_id, list(distinct_ids)]
    params.append(snapshot_at)
    sql = _EVENT_LINES_SQL.replace(
        "{window}", "AND e.time >= %s AND e.time <= %s" if window else ""
    )
    if window:
        params += list(window)
    with transaction.atomic(), connection.cursor() as cursor:
        # For this statement only: the ids' index, whatever the planner guesses (its per-id
        # estimate is several times the truth, and past about 1,000 ids of this store it
        # chose a scan of the whole table, 1.3 s instead of 0.2 s), and a sort in memory
        # (the chunk's rows sorted on disk otherwise: 13 MB for 500 subjects).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"SET LOCAL work_mem = '{EXPORT_SORT_MEMORY}'")
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
            for row in copy:
                out.write(bytes(row).replace(b"\\\\", b"\\"))


def profile_records(request: PrivacyRequest, chunk: Sequence[str]) -> Iterator[dict]:
    """Mixpanel's profile (engage) export shape."""
    rows = (
        profiles_of_ids(project_id=request.project_id, distinct_ids=chunk)
        .order_by(_by_distinct_id())
        .values_list("distinct_id", "properties")
    )
    # At most one a subject, so a chunk's are fetched at once: a server-side cursor costs a
    # DECLARE and a stored copy of the result for these few rows.
    for distinct_id, properties in rows:
        yield {"$distinct_id": distinct_id, "$properties": properties}


def identity_records(
    request: PrivacyRequest, chunk: Sequence[str], subjects: Collection[str]
) -> Iterator[dict]:
    """The subject set's identity links: the cluster rows of the chunk whose root is a subject
    too, each with how it was formed (`authenticated` and `endpoint` null for links made before
    provenance was recorded)."""
    for link in identity_links_among(
        project_id=request.project_id, distinct_ids=chunk, subjects=subjects
    ):
        yield {
            "distinct_id": link.distinct_id,
            "canonical_id": link.canonical_id,
            "kind": link.kind,
            "linked_at": iso_utc(link.linked_at),
            "authenticated": link.authenticated,
            "endpoint": link.endpoint,
        }


def identity_evidence_records(
    request: PrivacyRequest, chunk: Sequence[str], subjects: Collection[str]
) -> Iterator[dict]:
    """Every identity link request ingestion saw between two subjects, whatever became of it
    (formed, unverified, unchanged, refused): a record that names someone outside the subject
    set is that person's as much as the subject's, so it is left out."""
    for record in link_records_among(
        project_id=request.project_id, distinct_ids=chunk, subjects=subjects
    ):
        yield {
            "distinct_id": record.distinct_id,
            "canonical_id": record.canonical_id,
            "kind": record.kind,
            "outcome": record.outcome,
            "reason": record.reason,
            "authenticated": record.authenticated,
            "endpoint": record.endpoint,
            "first_seen": iso_utc(record.first_seen_at),
            "last_seen": iso_utc(record.last_seen_at),
            "count": record.count,
        }


def profile_count(request: PrivacyRequest, chunk: Sequence[str]) -> int:
    return profiles_of_ids(project_id=request.project_id, distinct_ids=chunk).count()


def identity_count(request: PrivacyRequest, chunk: Sequence[str], subjects: Collection[str]) -> int:
    return sum(1 for _ in identity_records(request, chunk, subjects))


@dataclass
class Categories:
    """The data table headers of the subject's records: names and counts, never values."""

    events: int = 0
    event_names: Counter = field(default_factory=Counter)
    event_properties: Counter = field(default_factory=Counter)
    profiles: int = 0
    profile_properties: Counter = field(default_factory=Counter)
    identities: int = 0
    identity_kinds: Counter = field(default_factory=Counter)

    def add_events(self, request: PrivacyRequest, chunk: Sequence[str]) -> int:
        rows = events_pages(request, chunk, "name", StoredPropertiesText("properties"))
        added = 0
        for name, rest in rows:
            self.event_names[name] += 1
            # Every exported event record carries these, taken from columns.
            self.event_properties.update(EVENT_COLUMN_PROPERTIES)
            stored = json.loads(rest) if rest else {}
            if isinstance(stored, dict):
                self.event_properties.update(stored.keys())
            added += 1
        self.events += added
        return added

    def add_profiles(self, request: PrivacyRequest, chunk: Sequence[str]) -> None:
        for record in profile_records(request, chunk):
            self.profiles += 1
            properties = record["$properties"]
            if isinstance(properties, dict):
                self.profile_properties.update(properties.keys())

    def add_identities(
        self, request: PrivacyRequest, chunk: Sequence[str], subjects: Collection[str]
    ) -> None:
        for record in identity_records(request, chunk, subjects):
            self.identities += 1
            self.identity_kinds[record["kind"]] += 1

    def as_json(self) -> dict:
        def listed(counter: Counter, key: str = "name") -> list[dict]:
            return [{key: name, "count": counter[name]} for name in sorted(counter)]

        return {
            "events": {
                "count": self.events,
                "names": listed(self.event_names),
                "properties": listed(self.event_properties),
            },
            "profiles": {"count": self.profiles, "properties": listed(self.profile_properties)},
            "identities": {
                "count": self.identities,
                "kinds": listed(self.identity_kinds, key="kind"),
            },
        }


@dataclass
class SourceSeen:
    first: datetime
    last: datetime
    count: int


@dataclass
class Sources:
    """The means of collection: each `source` of the subject's events, with the time of the
    first and last event it brought and how many."""

    seen: dict[str, SourceSeen] = field(default_factory=dict)
    events: int = 0

    def add_events(self, request: PrivacyRequest, chunk: Sequence[str]) -> None:
        rows = (
            subject_events(request, chunk)
            .order_by()
            .values("source")
            .annotate(first=Min("time"), last=Max("time"), count=Count("id"))
            .values_list("source", "first", "last", "count")
        )
        for source, first, last, count in rows:
            self.events += count
            known = self.seen.get(source)
            if known is None:
                self.seen[source] = SourceSeen(first, last, count)
            else:
                known.first = min(known.first, first)
                known.last = max(known.last, last)
                known.count += count

    def as_json(self) -> list[dict]:
        return [
            {
                "source": source,
                "first_seen": iso_utc(seen.first),
                "last_seen": iso_utc(seen.last),
                "count": seen.count,
            }
            for source, seen in sorted(self.seen.items())
        ]
