"""Submitting a request: validation, deadlines, the deletion conflict check, enqueue on commit."""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from privacy_requests.audit import audit_append, subject_hmac
from privacy_requests.callbacks.deliveries import callback_event_emit
from privacy_requests.callbacks.endpoints import callback_endpoint_for_url
from privacy_requests.deadlines import due_at_for
from privacy_requests.deletions.scope import deletion_scope_parse
from privacy_requests.errors import Conflict, InvalidRequest
from privacy_requests.models import (
    AuditAction,
    CallbackEvent,
    Channel,
    Compliance,
    Disclosure,
    PrivacyRequest,
    RequestKind,
)
from privacy_requests.notifications import privacy_request_notify_approval_needed
from privacy_requests.permissions import actor_require
from privacy_requests.selectors import deletion_conflicts_find, request_preview
from privacy_requests.services.approval import (
    approval_needed,
    approval_request,
    approval_thresholds_set,
)
from privacy_requests.services.queueing import privacy_request_enqueue
from privacy_requests.services.subject_rows import request_subjects_add
from projects.models import Project

logger = logging.getLogger(__name__)

MAX_DISTINCT_IDS = 2000
_Choice = TypeVar("_Choice", bound=Enum)
MAX_DISTINCT_ID_LENGTH = 255


def distinct_ids_normalize(distinct_ids: object) -> list[str]:
    """Validates the ids and collapses duplicates, first seen first. Ids are verbatim and
    case-sensitive; the limit counts unique ids."""
    if not isinstance(distinct_ids, list | tuple):
        raise InvalidRequest("distinct_ids must be a list of strings.", field="distinct_ids")
    unique: dict[str, None] = {}
    for index, distinct_id in enumerate(distinct_ids):
        if not isinstance(distinct_id, str):
            raise InvalidRequest(
                f"distinct_ids[{index}] must be a string.", field="distinct_ids", index=index
            )
        if distinct_id == "":
            raise InvalidRequest(
                f"distinct_ids[{index}] is empty.", field="distinct_ids", index=index
            )
        if len(distinct_id) > MAX_DISTINCT_ID_LENGTH:
            raise InvalidRequest(
                f"distinct_ids[{index}] is longer than {MAX_DISTINCT_ID_LENGTH} characters.",
                field="distinct_ids",
                index=index,
            )
        if "\x00" in distinct_id:
            raise InvalidRequest(
                f"distinct_ids[{index}] contains a NUL character.",
                field="distinct_ids",
                index=index,
            )
        unique.setdefault(distinct_id)
    if not unique:
        raise InvalidRequest("distinct_ids must hold at least one id.", field="distinct_ids")
    if len(unique) > MAX_DISTINCT_IDS:
        raise InvalidRequest(
            f"distinct_ids holds {len(unique)} unique ids; the limit is {MAX_DISTINCT_IDS}.",
            field="distinct_ids",
        )
    return list(unique)


def choice_parse(
    value: object, choices: type[_Choice], *, field: str, default: _Choice | None = None
) -> _Choice:
    """An enumerated value, case-insensitive on input."""
    if value is None or value == "":
        if default is not None:
            return default
        raise InvalidRequest(f"{field} is required.", field=field)
    if isinstance(value, str):
        for choice in choices:
            if choice.value.lower() == value.strip().lower():
                return choice
    allowed = ", ".join(choice.value for choice in choices)
    raise InvalidRequest(f"{field} must be one of {allowed}.", field=field)


def _conflicts_check(*, project: Project, distinct_ids: Sequence[str]) -> None:
    """Refuses ids that already have an unfinished deletion in this project. The caller holds
    the project's row lock, so two submissions cannot both pass this check."""
    conflict = deletion_conflicts_find(project=project, distinct_ids=distinct_ids)
    if conflict.distinct_ids:
        raise Conflict(
            f"{len(conflict.distinct_ids)} of these ids already have a deletion in progress "
            f"({', '.join(conflict.tracking_ids)}); wait for it to finish or cancel it.",
            distinct_ids=conflict.distinct_ids,
            tracking_ids=conflict.tracking_ids,
        )


def privacy_request_submit(
    *,
    project: Project,
    actor: Actor,
    channel: Channel | str,
    kind: RequestKind | str,
    compliance: object,
    distinct_ids: object,
    disclosure: object = None,
    categories: object = None,
    sources: object = None,
    received_at: datetime | None = None,
    site_url: str = "",
    callback_url: object = None,
    left_out: Sequence[str] = (),
    included: Sequence[str] = (),
) -> PrivacyRequest:
    """`callback_url` (issue 19, API only) must lie under one of the organization's callback
    endpoints; that endpoint then sends this request's callbacks there. `left_out` and
    `included` are the preview's decisions (recorded by the caller in the same transaction);
    here they only count the deletion's reach for its approval."""
    actor_require(actor=actor, project=project)
    kind = choice_parse(kind, RequestKind, field="kind")
    compliance = choice_parse(
        compliance, Compliance, field="compliance_type", default=Compliance.GDPR
    )
    disclosure = choice_parse(
        disclosure, Disclosure, field="disclosure_type", default=Disclosure.DATA
    )
    scope = deletion_scope_parse(
        kind=kind,
        compliance=compliance,
        disclosure=disclosure,
        categories=categories,
        sources=sources,
    )
    if compliance == Compliance.GDPR and disclosure != Disclosure.DATA:
        raise InvalidRequest(
            "GDPR requests return all data: disclosure_type must be absent or Data.",
            field="disclosure_type",
        )
    ids = distinct_ids_normalize(distinct_ids)
    if callback_url is not None and not isinstance(callback_url, str):
        raise InvalidRequest("callback_url must be a string.", field="callback_url")
    own_callback_url = (callback_url or "").strip()
    callback_endpoint = (
        callback_endpoint_for_url(project=project, url=own_callback_url)
        if own_callback_url
        else None
    )
    received_at = received_at or timezone.now()
    not_before = received_at
    if kind == RequestKind.DELETION:
        not_before += timedelta(seconds=settings.PRIVACY_DELETION_DELAY)

    with transaction.atomic():
        if kind == RequestKind.DELETION:
            # The per-project lock of DESIGN section 5.5. FOR NO KEY UPDATE: it serializes
            # deletion submissions without blocking the key-share lock that any commit of a
            # row referencing the project takes (an export's request, ingested events); FOR
            # UPDATE deadlocked with an export that held the audit chain (issue 16, chaos).
            list(Project.objects.select_for_update(no_key=True).filter(id=project.id).values("id"))
            _conflicts_check(project=project, distinct_ids=ids)
        request = PrivacyRequest.objects.create(
            organization_id=project.organization_id,
            project=project,
            requested_by=actor.text,
            requester=actor.user,
            kind=kind,
            compliance=compliance,
            disclosure=disclosure,
            scope=scope,
            channel=Channel(channel),
            received_at=received_at,
            due_at=due_at_for(compliance=compliance, received_at=received_at),
            not_before=not_before,
            site_url=site_url,
            callback_url=own_callback_url,
            callback_endpoint=callback_endpoint,
        )
        request_subjects_add(request_id=request.id, distinct_ids=ids, start=0, linked=False)
        audit_append(
            organization_id=request.organization_id,
            actor=actor.text,
            action=AuditAction.SUBMITTED,
            request=request,
            detail={
                "kind": kind.value,
                "compliance": compliance.value,
                "disclosure": disclosure.value,
                "scope": scope,
                "channel": request.channel,
                "project": project.id,
                "due_at": request.due_at.isoformat(),
                "subjects": [subject_hmac(project_id=project.id, distinct_id=i) for i in ids],
            },
        )
        callback_event_emit(request=request, event=CallbackEvent.SUBMITTED)
        tracking_id = request.tracking_id
        if _awaits_approval(
            request=request, actor=actor, ids=ids, left_out=left_out, included=included
        ):
            transaction.on_commit(
                lambda: privacy_request_notify_approval_needed(tracking_id=tracking_id),
                robust=True,
            )
        else:
            transaction.on_commit(lambda: privacy_request_enqueue(tracking_id=tracking_id))
    return request


def _awaits_approval(
    *,
    request: PrivacyRequest,
    actor: Actor,
    ids: list[str],
    left_out: Sequence[str],
    included: Sequence[str],
) -> bool:
    """Holds a deletion over the organization's four-eyes thresholds in STAGING. What it
    reaches is counted as the preview counts it, only when a threshold is set."""
    if request.kind != RequestKind.DELETION:
        return False
    organization = request.project.organization
    if not approval_thresholds_set(organization=organization):
        return False
    preview = request_preview(
        project=request.project, distinct_ids=ids, left_out=left_out, included=included
    )
    if not approval_needed(
        organization=organization, subjects=preview.subjects, events=preview.events
    ):
        return False
    approval_request(request=request, actor=actor, subjects=preview.subjects, events=preview.events)
    return True
