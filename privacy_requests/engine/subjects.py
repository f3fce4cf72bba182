"""The subject set's data, bounded by the snapshot: the first step both kinds of request share.

The subject set (the given ids and every id of their identity clusters) and the snapshot bound
are recorded when the request starts; every read here stops at that bound, so events that
arrive while the request runs are left out. Processors work one chunk of subjects at a time and
call `run.checkpoint(progress)` after each step.
"""

from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet

from privacy_requests.deadlines import ccpa_window_start
from privacy_requests.engine.run import Run, snapshot_of
from privacy_requests.models import Compliance, PrivacyRequest, RequestKind
from projects.chunking import in_chunks
from projects.store import events_of_ids, identity_links_of_ids, profiles_of_ids


def event_window(request: PrivacyRequest) -> tuple[datetime, datetime] | None:
    """CCPA exports cover the 12 calendar months up to receipt; everything else all time."""
    if request.kind == RequestKind.EXPORT and request.compliance == Compliance.CCPA:
        return ccpa_window_start(received_at=request.received_at), request.received_at
    return None


def subject_events(request: PrivacyRequest, distinct_ids: Sequence[str]) -> QuerySet:
    """The events of these subjects that the request covers: up to its snapshot, within its
    event window."""
    return events_of_ids(
        project_id=request.project_id,
        distinct_ids=distinct_ids,
        snapshot_max_event_id=snapshot_of(request),
        window=event_window(request),
    )


def subject_chunks(subject_ids: Sequence[str], size: int) -> list[list[str]]:
    """The subjects in chunks of `size`, in code-point order of distinct_id, each id once."""
    return list(in_chunks(sorted(set(subject_ids)), size))


def count_subject_rows(run: Run) -> dict:
    """Counts the subject set's events, profiles and identity links, step by step."""
    request = run.request
    chunk_size = settings.PRIVACY_SUBJECT_CHUNK
    subjects = run.subject_ids
    progress = dict(run.progress) if run.progress.get("phase") == "count" else {}
    counts = progress.get("counts", {"events": 0, "profiles": 0, "identities": 0})
    done = progress.get("done", 0)
    total = len(subjects)
    while done < total:
        chunk = subjects[done : done + chunk_size]
        counts = {
            "events": counts["events"] + subject_events(request, chunk).count(),
            "profiles": counts["profiles"]
            + profiles_of_ids(project_id=request.project_id, distinct_ids=chunk).count(),
            "identities": counts["identities"]
            + identity_links_of_ids(project_id=request.project_id, distinct_ids=chunk).count(),
        }
        done += len(chunk)
        run.checkpoint({"phase": "count", "done": done, "total": total, "counts": counts})
    return counts
