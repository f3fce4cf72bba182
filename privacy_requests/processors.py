"""What a request does once a worker holds it, behind one small interface:
`processor(run) -> counts`. A processor works in steps, calls `run.checkpoint(progress)` after
each (which commits its progress and renews the lease), and resumes from `run.progress`.

Both kinds share the first step: the subject set (recorded when the request started) and the
rows it has, bounded by the snapshot. Export packages and deletions build on it.
"""

from collections.abc import Callable, Sequence
from datetime import datetime

from django.conf import settings

from privacy_requests.deadlines import ccpa_window_start
from privacy_requests.deletions.processor import deletion_process
from privacy_requests.exports.processor import export_process
from privacy_requests.models import Compliance, PrivacyRequest, RequestKind
from projects.chunking import in_chunks
from projects.models import Event, IdentityLink, Profile

Processor = Callable[["Run"], dict]  # noqa: F821 - Run lives in services.processing


def event_window(request: PrivacyRequest) -> tuple[datetime, datetime] | None:
    """CCPA exports cover the 12 calendar months up to receipt; everything else all time."""
    if request.kind == RequestKind.EXPORT and request.compliance == Compliance.CCPA:
        return ccpa_window_start(received_at=request.received_at), request.received_at
    return None


def subject_events(request: PrivacyRequest, distinct_ids: Sequence[str]):
    events = Event.objects.filter(
        project_id=request.project_id,
        distinct_id__in=distinct_ids,
        id__lte=request.snapshot_max_event_id,
    )
    window = event_window(request)
    if window is not None:
        events = events.filter(time__gte=window[0], time__lte=window[1])
    return events


def ids_with_rows(
    *, project_id: int, distinct_ids: Sequence[str], snapshot_max_event_id: int
) -> set[str]:
    """Which of these ids have any event (up to the snapshot), profile or identity link."""
    found: set[str] = set()
    for chunk in in_chunks(distinct_ids):
        found.update(
            Event.objects.filter(
                project_id=project_id, distinct_id__in=chunk, id__lte=snapshot_max_event_id
            )
            .values_list("distinct_id", flat=True)
            .distinct()
        )
        found.update(
            Profile.objects.filter(project_id=project_id, distinct_id__in=chunk).values_list(
                "distinct_id", flat=True
            )
        )
        found.update(
            IdentityLink.objects.filter(project_id=project_id, distinct_id__in=chunk).values_list(
                "distinct_id", flat=True
            )
        )
        found.update(
            IdentityLink.objects.filter(project_id=project_id, canonical_id__in=chunk).values_list(
                "canonical_id", flat=True
            )
        )
    return found


def count_subject_rows(run) -> dict:
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
            + Profile.objects.filter(project_id=request.project_id, distinct_id__in=chunk).count(),
            "identities": counts["identities"]
            + IdentityLink.objects.filter(
                project_id=request.project_id, distinct_id__in=chunk
            ).count(),
        }
        done += len(chunk)
        run.checkpoint({"phase": "count", "done": done, "total": total, "counts": counts})
    return counts


# The export and deletion issues replace these with their own processors.
PROCESSORS: dict[str, Processor] = {
    RequestKind.EXPORT: export_process,
    RequestKind.DELETION: deletion_process,
}


def processor_for(request: PrivacyRequest) -> Processor:
    return PROCESSORS[request.kind]
