"""The processor's steps for a CCPA deletion by Categories or Sources (issue 18).

Same rules as the full deletion's steps: each commit is one short transaction that removes a
bounded batch and saves the progress (the cursor and the counts) with it, so a crash resumes
from the last committed step with exact counts. A partial deletion keeps the subjects' ids,
links and suppression: the person is still there, with less data.
"""

from collections.abc import Callable
from datetime import datetime

from django.conf import settings

from privacy_requests.deletions.event_batches import EventBatches
from privacy_requests.deletions.partial import (
    EventKey,
    events_strip_batch,
    profiles_of_sources_delete,
    profiles_strip,
)
from privacy_requests.engine.run import snapshot_of
from privacy_requests.models import Disclosure
from projects.store_deletes import events_delete


def _advance(progress: dict, count: int, subjects: list[str], next_phase: Callable) -> dict:
    progress["position"] += count
    progress["done"] += count
    progress.pop("after_key", None)
    progress.pop("after", None)
    if progress["position"] >= len(subjects):
        progress = next_phase(progress)
    return progress


def _key_of(saved: list | None) -> EventKey | None:
    if not saved:
        return None
    distinct_id, time, name, insert_id = saved
    return distinct_id, datetime.fromisoformat(time), name, insert_id


def partial_events(steps, progress: dict, *, batch: int, next_phase: Callable) -> dict:
    run = steps.run
    request = run.request
    subjects = run.subject_ids
    scope = list(request.scope)
    by_categories = request.disclosure == Disclosure.CATEGORIES
    batches = EventBatches(
        project_id=request.project_id,
        subjects=subjects,
        size=batch,
        chunk=settings.PRIVACY_SUBJECT_CHUNK,
    )

    def strip_batch(progress: dict) -> dict:
        chunk = subjects[
            progress["position"] : progress["position"] + settings.PRIVACY_SUBJECT_CHUNK
        ]
        counts = progress["counts"]
        last, changed = events_strip_batch(
            project_id=request.project_id,
            distinct_ids=chunk,
            snapshot_at=snapshot_of(request),
            after=_key_of(progress.get("after_key")),
            size=batch,
            categories=scope,
            tally=counts,
        )
        counts["events"] += changed
        if last is None:
            return _advance(progress, len(chunk), subjects, next_phase)
        progress["after_key"] = [last[0], last[1].isoformat(), last[2], last[3]]
        progress["batches"] += 1
        return progress

    def delete_batch(progress: dict) -> dict:
        # By Sources: the full deletion's batches (whole subjects or time slices of one),
        # each statement restricted to the chosen sources.
        after = progress.get("after")
        planned = batches.next(
            position=progress["position"],
            after=datetime.fromisoformat(after) if after else None,
        )
        if not planned.empty:
            removed = events_delete(
                project_id=request.project_id,
                distinct_ids=planned.distinct_ids,
                snapshot_at=snapshot_of(request),
                after=planned.after,
                through=planned.through,
                sources=scope,
            )
            progress["counts"]["events"] += removed
            if removed:
                progress["batches"] += 1
        if planned.through is not None:
            progress["after"] = planned.through.isoformat()
            return progress
        return _advance(progress, planned.done, subjects, next_phase)

    one_batch = strip_batch if by_categories else delete_batch
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
