"""Events from /track and /import: checked record by record, records of suppressed ids dropped,
the rest stored set-based, and identity links handed to `projects.identity`.

`$create_alias`, `$identify` and `$merge` are identity operations, not events: as in Mixpanel
they are not stored as events. An ordinary event carrying both `$device_id` and `$user_id` is
stored under the `$user_id` and also asks for the device link.

`/import?strict=0` (Mixpanel's non-strict mode) skips the per-record validation rules and keeps
only the checks that storing needs or that guard identities:
- skipped: the time window (1971-01-01 to one hour ahead), the placeholder ids for the event's
  own distinct_id, `$user_id` or `$device_id`, the `$insert_id` format and placeholder list, and
  Mixpanel's shape limits (255 properties, nesting depth 3, 255 items, 1 MB a record);
- kept: a JSON object with an object `properties`; a token, if any, of the authenticated
  project; an event name of 1 to 255 characters; a distinct_id (or `$user_id` / `$device_id`)
  of text or a number, at most 255 characters; a time that is a number a date can hold; an
  `$insert_id`, if any, of 1 to 36 characters; text the database stores (no NUL, no lone
  surrogate, no infinity); and every rule of identity links: `$create_alias`, `$identify`,
  `$merge`, and an event's device link, refuse placeholder ids in any mode, since a link joins
  two people's data for every later export and deletion.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.ingestion import limits
from projects.ingestion.authentication import projects_by_token
from projects.ingestion.decoding import UnreadableLine
from projects.ingestion.event_fields import (
    event_identity,
    event_source,
    identity_link_parse,
    insert_id_derive,
)
from projects.ingestion.event_rows import (
    IDENTITY_EVENTS,
    UNSTORED_PROPERTIES,
    EventRow,
    IdentityRow,
    ProjectResolver,
    nests_only_properties,
    plain_event_parse,
)
from projects.ingestion.event_store import events_store
from projects.ingestion.outcome import BatchOutcome, Endpoint, RecordFailure
from projects.ingestion.suppression import suppressed_ids_find
from projects.ingestion.truncation import properties_truncated
from projects.ingestion.validation import (
    Problem,
    event_time_parse,
    field_problem,
    insert_id_problem,
    project_by_token,
    properties_problem,
    record_encoding_problem,
)
from projects.models import Project


def events_ingest(
    *,
    endpoint: Endpoint,
    records: Sequence[Any],
    project: Project | None = None,
    principal: str = "",
    strict: bool = True,
    encodable: Sequence[bool] = (),
) -> BatchOutcome:
    """Ingests a batch. For /track each record names its project by `properties.token`
    (identity links are public); for /import `project` is the one `principal`'s credentials
    authenticated (links are authenticated), and a record's token, if any, must be that
    project's. `strict=False` is /import's non-strict mode (module docstring). `encodable`
    is decoding's `Payload.encodable`: the records its JSON text already cleared."""
    now = timezone.now()
    provenance = LinkProvenance(
        str(endpoint), authenticated=project is not None, principal=principal
    )
    outcome = BatchOutcome(received=len(records))
    resolve = _token_resolver(records) if project is None else _authenticated_resolver(project)
    batch_project_id = None if project is None else project.pk
    batches: dict[int, tuple[Project, list[EventRow | IdentityRow]]] = {}
    for index, record in enumerate(records):
        parsed = _event_record_parse(
            record,
            index=index,
            endpoint=endpoint,
            now=now,
            resolve=resolve,
            batch_project_id=batch_project_id,
            strict=strict,
            encodable=bool(encodable) and encodable[index],
        )
        if isinstance(parsed, RecordFailure):
            outcome.fail(parsed)
            continue
        record_project, row = parsed
        batch = batches.get(record_project.pk)
        if batch is None:
            batch = batches[record_project.pk] = (record_project, [])
        batch[1].append(row)
    for record_project, rows in batches.values():
        _project_rows_write(
            project=record_project, rows=rows, outcome=outcome, provenance=provenance
        )
    return outcome


def _token_resolver(records: Sequence[Any]) -> ProjectResolver:
    projects = projects_by_token(event_record_token(record) for record in records)

    def resolve(token: Any) -> Project | Problem:
        return project_by_token(token, field="properties.token", projects=projects)

    return resolve


def _authenticated_resolver(project: Project) -> ProjectResolver:
    def resolve(token: Any) -> Project | Problem:
        if token is None or token == "" or token == project.token:
            return project
        return field_problem("properties.token", "does not match the project of the API secret")

    return resolve


def event_record_token(record: Any) -> Any:
    if isinstance(record, dict) and isinstance(record.get("properties"), dict):
        return record["properties"].get("token")
    return None


def _event_record_parse(
    record: Any,
    *,
    index: int,
    endpoint: Endpoint,
    now: datetime,
    resolve: ProjectResolver,
    batch_project_id: int | None,
    strict: bool,
    encodable: bool,
) -> tuple[Project, EventRow | IdentityRow] | RecordFailure:
    if strict and encodable:
        plain = plain_event_parse(record, index=index, endpoint=endpoint, now=now, resolve=resolve)
        if plain is not None:
            return plain
    # The project a refusal is counted for: the authenticated one, else the token's once known.
    project_id = batch_project_id
    shown_insert_id = None

    def fail(problem: Problem) -> RecordFailure:
        return RecordFailure(
            index=index,
            field=problem.field,
            message=problem.message,
            insert_id=shown_insert_id,
            project_id=project_id,
        )

    if isinstance(record, UnreadableLine):
        return fail(Problem(field="record", message=f"line {record.line} is not valid JSON"))
    if not isinstance(record, dict):
        return fail(Problem(field="record", message="record must be a JSON object"))
    properties = record.get("properties")
    if properties is None:
        properties = {}
    given_insert_id = properties.get("$insert_id") if isinstance(properties, dict) else None
    shown_insert_id = given_insert_id if isinstance(given_insert_id, str) else None

    if not isinstance(properties, dict):
        return fail(field_problem("properties", "must be a JSON object"))
    project = resolve(properties.get("token"))
    if isinstance(project, Problem):
        return fail(project)
    project_id = project.pk
    name = record.get("event")
    if not isinstance(name, str) or not name.strip():
        return fail(field_problem("event", "is required: the event name, a non-empty string"))
    if len(name) > limits.MAX_EVENT_NAME_LENGTH:
        return fail(
            field_problem("event", f"is longer than {limits.MAX_EVENT_NAME_LENGTH} characters")
        )
    if strict:
        problem = properties_problem(properties, prefix="properties")
        # Serializing the record again would only confirm what its JSON text showed, unless a
        # value besides `properties` nests (unbounded by the shape check: serializing it may
        # run out of recursion, which refuses the record).
        if problem is None and not (encodable and nests_only_properties(record)):
            problem = record_encoding_problem(record)
    else:
        problem = record_encoding_problem(record, size_limited=False)
    if problem is not None:
        return fail(problem)

    if name in IDENTITY_EVENTS:
        link = identity_link_parse(name, properties, endpoint=endpoint)
        if isinstance(link, Problem):
            return fail(link)
        link_request, field = link
        if shown_insert_id is not None:
            link_request = replace(link_request, insert_id=shown_insert_id)
        return project, IdentityRow(
            index=index, link=link_request, field=field, insert_id=shown_insert_id
        )

    if properties.get("time") is None and endpoint == Endpoint.TRACK:
        time: datetime | Problem = now
    else:
        time = event_time_parse(
            properties.get("time"), field="properties.time", now=now, window=strict
        )
    if isinstance(time, Problem):
        return fail(time)

    identity = event_identity(properties, strict=strict)
    if isinstance(identity, Problem):
        return fail(identity)
    distinct_id, device_link = identity

    if given_insert_id is not None:
        problem = insert_id_problem(given_insert_id, field="properties.$insert_id", strict=strict)
        if problem is not None:
            return fail(problem)
    stored = properties_truncated(properties, left_out=UNSTORED_PROPERTIES)
    if given_insert_id is None:
        insert_id = insert_id_derive(name=name, time=time, distinct_id=distinct_id, stored=stored)
    else:
        insert_id = given_insert_id
    values = (
        project_id,
        distinct_id,
        name,
        time,
        insert_id,
        stored,
        event_source(endpoint, properties),
        now,
    )
    ids = (distinct_id,) if device_link is None else (distinct_id, device_link.distinct_id)
    if device_link is not None:
        device_link = replace(device_link, insert_id=insert_id)
    return project, EventRow(index=index, values=values, distinct_ids=ids, device_link=device_link)


def _project_rows_write(
    *,
    project: Project,
    rows: list[EventRow | IdentityRow],
    outcome: BatchOutcome,
    provenance: LinkProvenance,
) -> None:
    suppressed = suppressed_ids_find(
        project=project,
        distinct_ids=(distinct_id for row in rows for distinct_id in row.distinct_ids),
    )
    kept = []
    for row in rows:
        if suppressed and any(distinct_id in suppressed for distinct_id in row.distinct_ids):
            outcome.suppressed += 1
        else:
            kept.append(row)

    links: list[LinkRequest] = []
    link_rows: list[EventRow | IdentityRow] = []
    device_links_seen: set[LinkRequest] = set()
    for row in kept:
        if isinstance(row, IdentityRow):
            links.append(row.link)
            link_rows.append(row)
        elif row.device_link is not None and row.device_link not in device_links_seen:
            device_links_seen.add(row.device_link)
            links.append(row.device_link)
            link_rows.append(row)

    with transaction.atomic():
        events_store(rows=[row.values for row in kept if isinstance(row, EventRow)])
        # No link, no query: an empty call returns at once.
        refused = identity_links_apply(project=project, links=links, provenance=provenance).refused

    failed = 0
    for position, reason in refused:
        row = link_rows[position]
        if isinstance(row, IdentityRow):
            failed += 1
            outcome.fail(
                RecordFailure(
                    index=row.index,
                    field=row.field,
                    message=f"'{row.field}' link refused: {reason}",
                    insert_id=row.insert_id,
                    project_id=project.pk,
                )
            )
        else:
            # The event is stored; only its device link is refused (counted, reported).
            outcome.links_refused += 1
    outcome.accepted += len(kept) - failed
