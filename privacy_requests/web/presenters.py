"""How the Data & Privacy pages word a request: its progress, its status for the pages' script,
and its audit trail in plain words."""

from datetime import datetime

from django.utils import timezone

from privacy_requests.deadlines import deadline_state
from privacy_requests.models import (
    UNFINISHED_STATUSES,
    AuditAction,
    AuditEntry,
    PrivacyRequest,
    RequestKind,
    Status,
)

# What a worker is doing, in the words of the page; keys are the processors' progress steps.
STEP_LABELS = {
    "count": "counting rows",
    "suppress": "suppressing ids",
    "exports": "removing earlier exports",
    "events": "events",
    "profiles": "profiles",
    "identities": "identity links",
    "identity_evidence": "identity link records",
    "late_exports": "removing later exports",
    "receipt": "writing the receipt",
    "categories": "categories",
    "sources": "sources",
    "saving": "saving the file",
    "finished": "finishing",
}


def is_overdue(request: PrivacyRequest, *, now: datetime | None = None) -> bool:
    return deadline_state(request, now=now or timezone.now()) == "overdue"


def is_live(request: PrivacyRequest) -> bool:
    """Still moving on its own: worth watching."""
    return request.status in UNFINISHED_STATUSES


def watch_state(request: PrivacyRequest) -> str:
    """What the request page watches for a change: its status, and once SUCCESS whether each
    person's package (written just after) is stored yet."""
    if request.status == Status.SUCCESS and request.subject_packages_pending:
        return "SUCCESS-PACKAGES-PENDING"
    return request.status


def is_watched(request: PrivacyRequest) -> bool:
    """Worth watching on its own page: moving, or its packages still being written."""
    return is_live(request) or watch_state(request) != request.status


def progress_percent(request: PrivacyRequest) -> int | None:
    if request.status == Status.SUCCESS:
        return 100
    if request.status in (Status.PENDING, Status.STAGING):
        return 0
    if request.status != Status.STARTED:
        return None
    progress = request.progress or {}
    done, total = progress.get("done"), progress.get("total")
    if not isinstance(done, int) or not isinstance(total, int) or total <= 0:
        return 0
    return max(0, min(99, done * 100 // total))


def progress_text(request: PrivacyRequest) -> str:
    percent = progress_percent(request)
    if request.status == Status.PENDING:
        return "Waiting for a worker"
    if request.status == Status.STAGING:
        if request.not_before > timezone.now():
            return f"Grace period until {request.not_before:%Y-%m-%d %H:%M} UTC"
        return "About to start"
    if request.status == Status.STARTED:
        progress = request.progress or {}
        label = STEP_LABELS.get(str(progress.get("step") or progress.get("phase")), "")
        return f"{percent}% done" + (f" ({label})" if label else "")
    if request.status == Status.SUCCESS:
        return "Done"
    if request.status == Status.FAILURE:
        return "Stopped: see the reason"
    return "Canceled"


def failure_cause(error: str) -> str:
    """Why it stopped, in words a customer can read, from the technical reason the worker recorded
    (which only the back office shows: it may hold exception text and server paths)."""
    if error.startswith("Processing took longer"):
        return "because it took longer than a request may run"
    if "ResultStorageError" in error:
        return "because its file could not be saved"
    if error.startswith("Gave up after"):
        return "because a service it needs (the database or the file storage) kept failing"
    return "because of an error on our side"


def failure_sentences(request: PrivacyRequest) -> list[str]:
    """The customer's explanation of a FAILURE: what failed, that it can be retried (passing
    faults were already retried by the worker), and the tracking id to quote."""
    kind = request.get_kind_display().lower()
    cause = failure_cause(request.error or "")
    return [
        f"This {kind} stopped before it finished, {cause}.",
        "Passing faults were already retried automatically. You can retry it; if it stops "
        f"again, contact support and quote the tracking id {request.tracking_id}.",
    ]


def request_status_payload(request: PrivacyRequest) -> dict:
    """What the pages' script polls: enough to update the status and progress in place."""
    return {
        "tracking_id": request.tracking_id,
        "status": request.status,
        "status_label": request.get_status_display(),
        "progress": progress_percent(request),
        "progress_text": progress_text(request),
        "live": is_live(request),
        "state": watch_state(request),
        "watched": is_watched(request),
        "overdue": is_overdue(request),
    }


def distinct_id_has_edge_space(distinct_id: str) -> bool:
    """Whether the id begins or ends with a space (or other white space), which is part of it
    and which a page must show: "padded" is another end user than " padded "."""
    return distinct_id != distinct_id.strip()


def distinct_id_in_text(distinct_id: str) -> str:
    """The id in a sentence: quoted when spaces at either end are part of it."""
    return f"“{distinct_id}”" if distinct_id_has_edge_space(distinct_id) else distinct_id


# How the actor text (accounts.actors.Actor.text; "link" for a signed download) reads on a
# customer's page: who, and through what, in plain words (issue 17, item 5).
_VIA_WORDS = {
    "web": "{who} on this site",
    "api": "{who} through the API",
    "staff": "our support team",
}
_ACTOR_WORDS = {
    "system": "Automatically, by this service",
    "cli": "Our operators",
    "link": "Someone with the download link",
}


def actor_in_words(actor_text: str) -> str:
    """ "web:owner@acme.test" as "owner@acme.test on this site"; a staff member's address is
    not shown to customers."""
    if actor_text in _ACTOR_WORDS:
        return _ACTOR_WORDS[actor_text]
    via, _, who = actor_text.partition(":")
    if via not in _VIA_WORDS or not who:
        return actor_text
    if who.startswith("service-account:"):
        who = f"Service account {who.removeprefix('service-account:')}"
    return _VIA_WORDS[via].format(who=who)


def audit_action_label(action: str) -> str:
    if action in AuditAction.values:
        return AuditAction(action).label
    return action.replace("_", " ").capitalize()


def _counts_text(counts: dict) -> str:
    parts = [
        f"{name.replace('_', ' ')} {value:,}"
        for name, value in counts.items()
        if isinstance(value, int)
    ]
    return ", ".join(parts)


def audit_detail_summary(entry: AuditEntry) -> str:
    """A readable line for an audit entry's detail. Raw distinct_ids never reach the audit
    chain; the HMACs that stand for them are summarized as counts, never shown."""
    detail = entry.detail or {}
    action = entry.action
    if action == AuditAction.SUBMITTED:
        subjects = detail.get("subjects") or []
        text = (
            f"{detail.get('compliance', '')} {detail.get('kind', '')} of {len(subjects):,} "
            f"id{'s' if len(subjects) != 1 else ''} via {detail.get('channel', '')}"
        )
        if detail.get("kind") == RequestKind.EXPORT and detail.get("compliance") == "CCPA":
            text += f", disclosure {detail['disclosure']}"
        return text
    if action in (AuditAction.STARTED, AuditAction.RESUMED):
        return f"run {detail.get('run', '?')}, {detail.get('subjects', 0):,} subject ids"
    if action == AuditAction.STAGED:
        return "picked up by a worker"
    if action == AuditAction.SUCCEEDED:
        text = _counts_text(detail.get("counts") or {})
        not_found = detail.get("not_found")
        if not_found:
            text += f"; {not_found:,} id{'s' if not_found != 1 else ''} had no data"
        return text
    if action == AuditAction.DELETED:
        return _counts_text(detail.get("counts") or detail.get("rows_removed") or {})
    if action == AuditAction.FAILED:
        # The recorded reason is technical (exception text, server paths): back office only.
        cause = failure_cause(detail.get("error") or "")
        return f"stopped {cause}"
    if action == AuditAction.RETRIED:
        return "run again on the same tracking id"
    if action == AuditAction.EXTENDED:
        return f"new due date {str(detail.get('due_at', ''))[:10]}: {detail.get('reason', '')}"
    if action == AuditAction.DOWNLOADED:
        where = "a short-lived storage link" if detail.get("redirected") else "this site"
        return f"the file, through its signed link, served by {where}"
    if action == AuditAction.PSEUDONYMIZED:
        return f"{detail.get('subjects', 0):,} subject ids replaced by HMACs"
    if action == AuditAction.END_USER_LOOKED_UP:
        matched = detail.get("matched", 0)
        more = " (more not shown)" if detail.get("more") else ""
        return (
            f"searched {detail.get('searched', '')} in project {detail.get('project', '?')}: "
            f"{matched:,} id{'s' if matched != 1 else ''} found{more}"
        )
    if action == AuditAction.DUE_REMINDER_SENT:
        return f"{detail.get('recipients', 0):,} owners and admins emailed"
    return _generic_summary(detail)


def _generic_summary(detail: dict) -> str:
    parts = []
    for key, value in sorted(detail.items()):
        if "hmac" in key or key in ("subjects", "file_version"):
            continue
        label = key.replace("_", " ")
        if isinstance(value, list):
            parts.append(f"{label}: {len(value):,}")
        elif isinstance(value, dict):
            inner = _counts_text(value)
            if inner:
                parts.append(f"{label}: {inner}")
        elif isinstance(value, bool):
            parts.append(f"{label}: {'yes' if value else 'no'}")
        elif value not in (None, ""):
            parts.append(f"{label}: {value}")
    return "; ".join(parts)
