"""/engage: profile operations applied to `Profile` rows, a batch at a time.

A batch costs a bounded number of queries per project: its profiles are read (and on
PostgreSQL locked, so that concurrent batches never lose each other's updates) in one query,
every record's operations are applied in order in memory, then new profiles are inserted,
changed ones updated and deleted ones deleted, each set-based.

Profiles are keyed by the `$distinct_id` as sent, not resolved through identity clusters, so
`$delete` deletes exactly that id's profile: what `"$ignore_alias": true` asks for, and what
happens without it too.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from projects.ingestion.authentication import projects_by_token
from projects.ingestion.outcome import BatchOutcome, RecordFailure
from projects.ingestion.profile_operations import (
    ENGAGE_OPERATIONS,
    Operation,
    OperationConflict,
    operations_apply,
    operations_parse,
)
from projects.ingestion.suppression import suppressed_ids_find
from projects.ingestion.validation import (
    Problem,
    distinct_id_normalize,
    project_by_token,
    record_encoding_problem,
)
from projects.models import GroupProfile, Profile, Project
from projects.store_deletes import profiles_properties_set, store_rows_delete

# A concurrent batch may insert a profile this one also creates; the retry finds it and locks it.
_ATTEMPTS = 3
# Profiles a routed UPDATE rewrites at most (two parameters each, in a CASE).
_UPDATE_CHUNK = 300

ProfileKey = tuple[str, ...]


@dataclass(slots=True)
class ProfileUpdate:
    index: int
    key: ProfileKey  # (distinct_id,) for Profile, (group_key, group_id) for GroupProfile
    operations: list[Operation]


def engage_ingest(*, records: Sequence[Any]) -> BatchOutcome:
    outcome = BatchOutcome(received=len(records))
    projects = projects_by_token(
        record.get("$token") for record in records if isinstance(record, dict)
    )
    batches: dict[int, tuple[Project, list[ProfileUpdate]]] = {}
    for index, record in enumerate(records):
        parsed = _engage_record_parse(record, index=index, projects=projects)
        if isinstance(parsed, RecordFailure):
            outcome.fail(parsed)
            continue
        project, update = parsed
        batches.setdefault(project.pk, (project, []))[1].append(update)
    for project, updates in batches.values():
        suppressed = suppressed_ids_find(
            project=project, distinct_ids=(update.key[0] for update in updates)
        )
        kept = [update for update in updates if update.key[0] not in suppressed]
        outcome.suppressed += len(updates) - len(kept)
        outcome.merge(
            profile_updates_apply(
                model=Profile, key_fields=("distinct_id",), project=project, updates=kept
            )
        )
    return outcome


def _engage_record_parse(
    record: Any, *, index: int, projects: dict[str, Project]
) -> tuple[Project, ProfileUpdate] | RecordFailure:
    if not isinstance(record, dict):
        return RecordFailure(index=index, field="record", message="record must be a JSON object")
    project = project_by_token(record.get("$token"), field="$token", projects=projects)
    if isinstance(project, Problem):
        return _failure(index, project)
    distinct_id = distinct_id_normalize(record.get("$distinct_id"), field="$distinct_id")
    if isinstance(distinct_id, Problem):
        return _failure(index, distinct_id, project=project)
    operations = operations_parse(record, allowed=ENGAGE_OPERATIONS)
    if isinstance(operations, Problem):
        return _failure(index, operations, project=project)
    problem = record_encoding_problem(record)
    if problem is not None:
        return _failure(index, problem, project=project)
    return project, ProfileUpdate(index=index, key=(distinct_id,), operations=operations)


def _failure(index: int, problem: Problem, *, project: Project | None = None) -> RecordFailure:
    return RecordFailure(
        index=index,
        field=problem.field,
        message=problem.message,
        project_id=None if project is None else project.pk,
    )


def profile_updates_apply(
    *,
    model: type[Profile] | type[GroupProfile],
    key_fields: tuple[str, ...],
    project: Project,
    updates: Sequence[ProfileUpdate],
) -> BatchOutcome:
    """Applies the updates of one project in order; returns what was accepted and refused."""
    if not updates:
        return BatchOutcome(received=0)
    attempt = 1
    while True:
        try:
            with transaction.atomic():
                return _updates_apply_once(
                    model=model, key_fields=key_fields, project=project, updates=updates
                )
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise
            attempt += 1


def _updates_apply_once(
    *,
    model: type[Profile] | type[GroupProfile],
    key_fields: tuple[str, ...],
    project: Project,
    updates: Sequence[ProfileUpdate],
) -> BatchOutcome:
    outcome = BatchOutcome(received=len(updates))
    keys = {update.key for update in updates}
    rows = _rows_lock(model=model, key_fields=key_fields, project=project, keys=keys)
    state: dict[ProfileKey, dict | None] = {
        key: rows[key].properties if key in rows else None for key in keys
    }
    for update in updates:
        try:
            state[update.key] = operations_apply(state[update.key], update.operations)
        except OperationConflict as conflict:
            outcome.fail(_failure(update.index, conflict.problem, project=project))
        else:
            outcome.accepted += 1

    now = timezone.now()
    created, changed, deleted = [], [], []
    for key, properties in state.items():
        row = rows.get(key)
        if row is None:
            if properties is not None:
                created.append(
                    model(
                        project=project,
                        properties=properties,
                        updated_at=now,
                        **dict(zip(key_fields, key, strict=True)),
                    )
                )
        elif properties is None:
            deleted.append(row)
        elif properties != row.properties:
            row.properties = properties
            row.updated_at = now
            changed.append(row)
    if model is Profile:
        _profiles_write(project=project, deleted=deleted, created=created, changed=changed, now=now)
        return outcome
    if deleted:
        model.objects.filter(pk__in=[row.pk for row in deleted]).delete()
    if created:
        model.objects.bulk_create(created)
    if changed:
        model.objects.bulk_update(changed, ["properties", "updated_at"])
    return outcome


def _profiles_write(
    *, project: Project, deleted: list, created: list, changed: list, now: datetime
) -> None:
    """People's profiles are store rows: every DELETE and UPDATE names their distinct_ids
    (projects.store_deletes), never their primary keys, so that a store distributed on
    distinct_id routes it (issue 20). Group profiles are not distributed."""
    store_rows_delete(
        Profile, project_id=project.pk, distinct_ids=[row.distinct_id for row in deleted]
    )
    if created:
        Profile.objects.bulk_create(created)
    profiles_properties_set(
        project_id=project.pk,
        properties=[(row.distinct_id, row.properties) for row in changed],
        updated_at=now,
        chunk=_UPDATE_CHUNK,
    )


def _rows_lock(
    *,
    model: type[Profile] | type[GroupProfile],
    key_fields: tuple[str, ...],
    project: Project,
    keys: set[ProfileKey],
) -> dict[ProfileKey, Any]:
    """The existing rows of these keys, locked until the transaction ends (in primary-key
    order, so two batches never lock the same rows in opposite orders)."""
    filters = {
        f"{name}__in": sorted({key[position] for key in keys})
        for position, name in enumerate(key_fields)
    }
    queryset = model.objects.filter(project=project, **filters).order_by("pk").select_for_update()
    rows = {}
    for row in queryset:
        key = tuple(getattr(row, name) for name in key_fields)
        if key in keys:
            rows[key] = row
    return rows
