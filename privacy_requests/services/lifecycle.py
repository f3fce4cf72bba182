"""State changes asked for by people: cancel, retry, extend, expedite.

Every change is a conditional UPDATE that must touch exactly one row, so two actors (or an
actor and a worker) racing on the same request cannot both win.
"""

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.actors import Actor
from privacy_requests.audit import audit_append
from privacy_requests.callbacks.deliveries import callback_event_emit
from privacy_requests.deadlines import extended_due_at_for
from privacy_requests.engine.run import transition
from privacy_requests.errors import InvalidRequest, InvalidTransition
from privacy_requests.models import (
    CANCELABLE_STATUSES,
    FINAL_STATUSES,
    AuditAction,
    CallbackEvent,
    PrivacyRequest,
    RequestKind,
    Status,
)
from privacy_requests.notifications import privacy_request_notify_finished
from privacy_requests.permissions import actor_require
from privacy_requests.services.queueing import privacy_request_enqueue


def _current_status(request: PrivacyRequest) -> str:
    return PrivacyRequest.objects.values_list("status", flat=True).get(id=request.id)


def privacy_request_cancel(
    *, request: PrivacyRequest, actor: Actor, reason: str = ""
) -> PrivacyRequest:
    """Cancels a PENDING or STAGING request; `reason` (the back office requires one) goes into
    the audit entry."""
    actor_require(actor=actor, project=request.project)
    now = timezone.now()
    with transaction.atomic():
        if not transition(
            request.id,
            condition=Q(status__in=CANCELABLE_STATUSES),
            status=Status.REVOKED,
            canceled_by=actor.text,
            canceled_at=now,
            finished_at=now,
        ):
            status = _current_status(request)
            raise InvalidTransition(
                f"This request is {status}: a request can be canceled only while it is "
                "PENDING or STAGING; once STARTED it runs to the end.",
                status=status,
            )
        audit_append(
            organization_id=request.organization_id,
            actor=actor.text,
            action=AuditAction.CANCELED,
            request=request,
            detail={"reason": reason.strip()} if reason.strip() else {},
        )
        callback_event_emit(request=request, event=CallbackEvent.REVOKED)
        tracking_id = request.tracking_id
        transaction.on_commit(
            lambda: privacy_request_notify_finished(tracking_id=tracking_id), robust=True
        )
    request.refresh_from_db()
    return request


def privacy_request_retry(*, request: PrivacyRequest, actor: Actor) -> PrivacyRequest:
    """FAILURE → PENDING on the same tracking_id; the due date stays."""
    actor_require(actor=actor, project=request.project)
    with transaction.atomic():
        previous_error = PrivacyRequest.objects.values_list("error", flat=True).get(id=request.id)
        if not transition(
            request.id,
            condition=Q(status=Status.FAILURE),
            status=Status.PENDING,
            attempts=F("attempts") + 1,
            error="",
            lease_until=None,
            lease_owner="",
            finished_at=None,
        ):
            status = _current_status(request)
            raise InvalidTransition(
                f"This request is {status}: only a request that ended FAILURE can be retried.",
                status=status,
            )
        audit_append(
            organization_id=request.organization_id,
            actor=actor.text,
            action=AuditAction.RETRIED,
            request=request,
            detail={"previous_error": previous_error[:500]},
        )
        tracking_id = request.tracking_id
        transaction.on_commit(lambda: privacy_request_enqueue(tracking_id=tracking_id))
    request.refresh_from_db()
    return request


def privacy_request_extend(*, request: PrivacyRequest, actor: Actor, reason: str) -> PrivacyRequest:
    """Extends the deadline once (GDPR: three months from receipt; CCPA: 90 days)."""
    actor_require(actor=actor, project=request.project)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("Say why the deadline is extended.", field="reason")
    new_due = extended_due_at_for(compliance=request.compliance, received_at=request.received_at)
    with transaction.atomic():
        if not transition(
            request.id,
            condition=Q(extended=False) & ~Q(status__in=FINAL_STATUSES),
            # A new deadline earns a new reminder 7 days before it, and a new overdue event.
            due_at=new_due,
            extended=True,
            extension_reason=reason,
            due_reminder_sent_at=None,
            overdue_event_at=None,
        ):
            current = PrivacyRequest.objects.get(id=request.id)
            if current.extended:
                raise InvalidTransition(
                    "The deadline was already extended once; it cannot be extended again.",
                    status=current.status,
                )
            raise InvalidTransition(
                f"This request is {current.status}: there is no deadline left to extend.",
                status=current.status,
            )
        audit_append(
            organization_id=request.organization_id,
            actor=actor.text,
            action=AuditAction.EXTENDED,
            request=request,
            detail={
                "reason": reason,
                "due_at": new_due.isoformat(),
                "previous_due_at": request.due_at.isoformat(),
            },
        )
    request.refresh_from_db()
    return request


def privacy_request_expedite(*, request: PrivacyRequest, actor: Actor) -> PrivacyRequest:
    """Ends a deletion's grace period now."""
    actor_require(actor=actor, project=request.project)
    now = timezone.now()
    with transaction.atomic():
        if request.kind != RequestKind.DELETION or not transition(
            request.id,
            condition=Q(status__in=CANCELABLE_STATUSES, not_before__gt=now),
            not_before=now,
        ):
            raise InvalidTransition(
                "Only a deletion still in its grace period can be expedited.",
                status=_current_status(request),
            )
        audit_append(
            organization_id=request.organization_id,
            actor=actor.text,
            action=AuditAction.EXPEDITED,
            request=request,
            detail={},
        )
        tracking_id = request.tracking_id
        transaction.on_commit(lambda: privacy_request_enqueue(tracking_id=tracking_id))
    request.refresh_from_db()
    return request
