"""The processor's steps for a CCPA deletion by Categories or Sources (issue 18).

Same rules as the full deletion's steps: each commit is one short transaction that removes a
bounded batch and saves the progress (the cursor and the counts) with it, so a crash resumes
from the last committed step with exact counts. A partial deletion keeps the subjects' ids,
links and suppression: the person is still there, with less data.
"""

from collections.abc import Callable

from django.conf import settings

from privacy_requests.deletions.partial import (
    events_of_sources_delete_batch,
    events_strip_batch,
    profiles_of_sources_delete,
    profiles_strip,
)
from privacy_requests.engine.run import snapshot_of
from privacy_requests.models import Disclosure


def _advance(progress: dict, count: int, subjects: list[str], next_phase: Callable) -> dict:
    progress["position"] += count
    progress["done"] += count
    progress["after_id"] = 0
    if progress["position"] >= len(subjects):
        progress = next_phase(progress)
    return progress


def partial_events(steps, progress: dict, *, batch: int, next_phase: Callable) -> dict:
    run = steps.run
    request = run.request
    subjects = run.subject_ids
    scope = list(request.scope)
    by_categories = request.disclosure == Disclosure.CATEGORIES

    def one_batch(progress: dict) -> dict:
        chunk = subjects[
            progress["position"] : progress["position"] + settings.PRIVACY_SUBJECT_CHUNK
        ]
        counts = progress["counts"]
        if by_categories:
            last_id, changed = events_strip_batch(
                project_id=request.project_id,
                distinct_ids=chunk,
                snapshot_max_event_id=snapshot_of(request),
                after_id=progress.get("after_id", 0),
                size=batch,
                categories=scope,
                tally=counts,
            )
            counts["events"] += changed
            if last_id is not None:
                progress["after_id"] = last_id
                progress["batches"] += 1
                return progress
            return _advance(progress, len(chunk), subjects, next_phase)
        removed = events_of_sources_delete_batch(
            project_id=request.project_id,
            distinct_ids=chunk,
            snapshot_max_event_id=snapshot_of(request),
            size=batch,
            sources=scope,
        )
        counts["events"] += removed
        if removed:
            progress["batches"] += 1
        if removed < batch:
            return _advance(progress, len(chunk), subjects, next_phase)
        return progress

    while progress["phase"] == "events":
        progress = steps.commit(progress, one_batch)
    return progress


def partial_profiles(steps, progress: dict, *, next_phase: Callable) -> dict:
    run = steps.run
    request = run.request
    subjects = run.subject_ids
    scope = list(request.scope)

    def one_chunk(progress: dict) -> dict:
        chunk = subjects[
            progress["position"] : progress["position"] + settings.PRIVACY_SUBJECT_CHUNK
        ]
        if request.disclosure == Disclosure.CATEGORIES:
            changed = profiles_strip(
                project_id=request.project_id,
                distinct_ids=chunk,
                categories=scope,
                tally=progress["counts"],
            )
        else:
            changed = profiles_of_sources_delete(
                project_id=request.project_id, distinct_ids=chunk, sources=scope
            )
        progress["counts"]["profiles"] += changed
        return _advance(progress, len(chunk), subjects, next_phase)

    while progress["phase"] == "profiles":
        progress = steps.commit(progress, one_chunk)
    return progress


def partial_skip(steps, progress: dict, *, next_phase: Callable) -> dict:
    """Identities: a partial deletion keeps the subjects' links."""
    return steps.commit(progress, next_phase)
