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
from privacy_requests.exports.package import iso_utc
from privacy_requests.models import (
    Compliance,
    PrivacyRequest,
    RequestKind,
    SubjectDecision,
    SubjectDecisionKind,
)
from projects.chunking import in_chunks
from projects.identity_review import LinkHow, identity_links_how, link_records_touching, record_how
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
        snapshot_at=snapshot_of(request),
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


def subject_link_notes(run: Run) -> list[dict]:
    """How each id of the subject set came into it, for the export manifest: given; linked
    (the kind of link, authenticated or public, the endpoint, when, the id on its other side;
    a cluster's root has no link of its own); or included by a person (when, and the refused
    or unverified link that pointed it in). Who decided stays in the audit trail."""
    request = run.request
    project_id = request.project_id
    given = set(run.given_ids)
    included_at = dict(
        SubjectDecision.objects.filter(
            request_id=request.id, decision=SubjectDecisionKind.INCLUDED
        ).values_list("distinct_id", "decided_at")
    )
    included = set(request.subjects.filter(included=True).values_list("distinct_id", flat=True))
    hows: dict[str, LinkHow] = {}
    for chunk in in_chunks(run.subject_ids):
        hows.update(identity_links_how(project_id=project_id, distinct_ids=chunk))
    subjects = set(run.subject_ids)
    pointed: dict[str, LinkHow] = {}
    for record in link_records_touching(project_id=project_id, distinct_ids=sorted(included)):
        for inside, outside in (
            (record.distinct_id, record.canonical_id),
            (record.canonical_id, record.distinct_id),
        ):
            if outside in included and inside in subjects and inside not in included:
                pointed.setdefault(outside, record_how(record, other_id=inside))
    notes = []
    for distinct_id in run.subject_ids:
        if distinct_id in included:
            note: dict = {"distinct_id": distinct_id, "via": "included"}
            moment = included_at.get(distinct_id)
            note["included_at"] = iso_utc(moment) if moment else None
            how = pointed.get(distinct_id)
        else:
            note = {
                "distinct_id": distinct_id,
                "via": "given" if distinct_id in given else "linked",
            }
            how = hows.get(distinct_id)
        if how is not None:
            note["link"] = {
                "kind": how.kind,
                "outcome": how.outcome,
                "reason": how.reason,
                "authenticated": how.authenticated,
                "endpoint": how.endpoint or None,
                "at": iso_utc(how.at),
                "other_id": how.other_id if how.other_id in subjects else None,
            }
        notes.append(note)
    return notes
