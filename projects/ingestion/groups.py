"""/groups: operations on group profiles (`$set, $set_once, $unset, $remove, $union, $delete`),
applied like /engage's. Group profiles are not end-user data: no suppression applies."""

from collections.abc import Sequence
from typing import Any

from projects.ingestion import limits
from projects.ingestion.authentication import projects_by_token
from projects.ingestion.outcome import BatchOutcome, RecordFailure
from projects.ingestion.profile_operations import GROUP_OPERATIONS, operations_parse
from projects.ingestion.profiles import ProfileUpdate, profile_updates_apply
from projects.ingestion.validation import (
    Problem,
    field_problem,
    project_by_token,
    record_encoding_problem,
)
from projects.models import GroupProfile, Project


def groups_ingest(*, records: Sequence[Any]) -> BatchOutcome:
    outcome = BatchOutcome(received=len(records))
    projects = projects_by_token(
        record.get("$token") for record in records if isinstance(record, dict)
    )
    batches: dict[int, tuple[Project, list[ProfileUpdate]]] = {}
    for index, record in enumerate(records):
        parsed = _group_record_parse(record, index=index, projects=projects)
        if isinstance(parsed, RecordFailure):
            outcome.fail(parsed)
            continue
        project, update = parsed
        batches.setdefault(project.pk, (project, []))[1].append(update)
    for project, updates in batches.values():
        outcome.merge(
            profile_updates_apply(
                model=GroupProfile,
                key_fields=("group_key", "group_id"),
                project=project,
                updates=updates,
            )
        )
    return outcome


def _group_record_parse(
    record: Any, *, index: int, projects: dict[str, Project]
) -> tuple[Project, ProfileUpdate] | RecordFailure:
    if not isinstance(record, dict):
        return RecordFailure(index=index, field="record", message="record must be a JSON object")
    project = project_by_token(record.get("$token"), field="$token", projects=projects)
    if isinstance(project, Problem):
        return _failure(index, project)
    group_key = _group_name(record.get("$group_key"), field="$group_key")
    if isinstance(group_key, Problem):
        return _failure(index, group_key, project=project)
    group_id = _group_name(record.get("$group_id"), field="$group_id")
    if isinstance(group_id, Problem):
        return _failure(index, group_id, project=project)
    operations = operations_parse(record, allowed=GROUP_OPERATIONS)
    if isinstance(operations, Problem):
        return _failure(index, operations, project=project)
    problem = record_encoding_problem(record)
    if problem is not None:
        return _failure(index, problem, project=project)
    return project, ProfileUpdate(index=index, key=(group_key, group_id), operations=operations)


def _group_name(value: Any, *, field: str) -> str | Problem:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return field_problem(field, "is required: a non-empty string")
    text = str(value)
    if len(text) > limits.MAX_ID_LENGTH:
        return field_problem(field, f"is longer than {limits.MAX_ID_LENGTH} characters")
    return text


def _failure(index: int, problem: Problem, *, project: Project | None = None) -> RecordFailure:
    return RecordFailure(
        index=index,
        field=problem.field,
        message=problem.message,
        project_id=None if project is None else project.pk,
    )
