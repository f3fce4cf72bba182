"""Four-eyes approval of large deletions (issue 19, section 2).

An erasure cannot be undone, so an organization may ask that a deletion reaching more than N
subjects or M events waits, in STAGING, for a second owner or admin. Approving, rejecting and
expiring are conditional UPDATEs on `approval_state = awaiting`: two approvers, or an approval
racing the expiry, cannot both win. Approval enqueues the request as a submit does, so the
sweep still finds it when Redis was down.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actors import SYSTEM, Actor
from accounts.models import Organization
from accounts.selectors import can_manage_members
from privacy_requests.audit import audit_append
from privacy_requests.callbacks.deliveries import callback_event_emit
from privacy_requests.engine.run import transition
from privacy_requests.errors import InvalidRequest, InvalidTransition, NotAllowed
from privacy_requests.models import (
    APPROVAL_NEEDED_FROM as NEEDED_FROM,
)
from privacy_requests.models import (
    ApprovalState,
    AuditAction,
    CallbackEvent,
    PrivacyRequest,
    Status,
)
from privacy_requests.notifications import privacy_request_notify_finished
from privacy_requests.services.queueing import privacy_request_enqueue

APPROVAL_LIFETIME = timedelta(days=7)
EXPIRED_REASON = "Not approved within 7 days."


def approval_needed(*, organization: Organization, subjects: int, events: int) -> bool:
    """More than either threshold; a threshold left empty is off."""
    over_subjects = organization.approval_subjects_over
    over_events = organization.approval_events_over
    return (over_subjects is not None and subjects > over_subjects) or (
        over_events is not None and events > over_events
    )


def approval_thresholds_set(*, organization: Organization) -> bool:
    return organization.approval_subjects_over is not None or (
        organization.approval_events_over is not None
    )


def approver_require(*, request: PrivacyRequest, actor: Actor) -> None:
    """A person who is an owner or admin of the request's organization and did not ask for it.
    Staff, service accounts and the system never approve: the second pair of eyes is someone
    answerable inside the organization."""
    user = actor.user
    if actor.service_account is not None or user is None or actor.via not in ("web", "api"):
        raise NotAllowed("Only another owner or admin of the organization can approve.")
    if not can_manage_members(user=user, organization=request.organization):
        raise NotAllowed("Only another owner or admin of the organization can approve.")
    if request.requester_id is not None and request.requester_id == user.id:
        raise NotAllowed("You asked for this deletion: another owner or admin must approve it.")


def approval_request(*, request: PrivacyRequest, actor: Actor, subjects: int, events: int) -> None:
    """Called inside the submitting transaction, instead of enqueueing."""
    expires_at = timezone.now() + APPROVAL_LIFETIME
    PrivacyRequest.objects.filter(id=request.id).update(
        status=Status.STAGING, approval_state=ApprovalState.AWAITING, approval_expires_at=expires_at
    )
    request.refresh_from_db()
    audit_append(
        organization_id=request.organization_id,
        actor=actor.text,
        action=AuditAction.APPROVAL_REQUESTED,
        request=request,
        detail={
            "subjects": subjects,
            "events": events,
            "needed_from": NEEDED_FROM,
            "expires_at": expires_at.isoformat(),
        },
    )


def _awaiting(now: datetime) -> Q:
    return Q(
        status=Status.STAGING, approval_state=ApprovalState.AWAITING, approval_expires_at__gt=now
    )


def _refuse(request: PrivacyRequest) -> InvalidTransition:
    current = PrivacyRequest.objects.get(id=request.id)
    state = current.get_approval_state_display().lower()
    return InvalidTransition(
        f"This deletion is {current.status} and {state}: it no longer awaits approval.",
        status=current.status,
    )


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("Say why.", field="reason")
    return reason


def privacy_request_approve(
    *, request: PrivacyRequest, actor: Actor, reason: str
) -> PrivacyRequest:
    approver_require(request=request, actor=actor)
    reason = _reason(reason)
    now = timezone.now()
    with transaction.atomic():
        if not transition(
            request.id,
            condition=_awaiting(now),
            approval_state=ApprovalState.APPROVED,
            approval_decided_by=actor.text,
            approval_decided_at=now,
            approval_reason=reason,
        ):
            raise _refuse(request)
        audit_append(
            organization_id=request.organization_id,
            actor=actor.text,
            action=AuditAction.APPROVED,
            request=request,
            detail={"reason": reason},
        )
        callback_event_emit(request=request, event=CallbackEvent.REVOKED)
        tracking_id = request.tracking_id
        transaction.on_commit(lambda: privacy_request_enqueue(tracking_id=tracking_id))
    request.refresh_from_db()
    return request


def privacy_request_reject(*, request: PrivacyRequest, actor: Actor, reason: str) -> PrivacyRequest:
    approver_require(request=request, actor=actor)
    reason = _reason(reason)
    _close(
        request,
        actor=actor,
        now=timezone.now(),
        state=ApprovalState.REJECTED,
        action=AuditAction.APPROVAL_REJECTED,
        reason=reason,
    )
    request.refresh_from_db()
    return request


def _close(
    request: PrivacyRequest,
    *,
    actor: Actor,
    now: datetime,
    state: ApprovalState,
    action: AuditAction,
    reason: str,
    condition: Q | None = None,
) -> bool:
    with transaction.atomic():
        if not transition(
            request.id,
            condition=condition if condition is not None else _awaiting(now),
            status=Status.REVOKED,
            approval_state=state,
            approval_decided_by=actor.text,
            approval_decided_at=now,
            approval_reason=reason,
            canceled_by=actor.text,
            canceled_at=now,
            finished_at=now,
        ):
            if condition is not None:
                return False
            raise _refuse(request)
        audit_append(
            organization_id=request.organization_id,
            actor=actor.text,
            action=action,
            request=request,
            detail={"reason": reason},
        )
        callback_event_emit(request=request, event=CallbackEvent.REVOKED)
        tracking_id = request.tracking_id
        transaction.on_commit(
            lambda: privacy_request_notify_finished(tracking_id=tracking_id), robust=True
        )
    return True


def approvals_expire(*, now: datetime | None = None) -> int:
    """REVOKED, with the reason, for deletions that waited 7 days unapproved (the sweep)."""
    now = now or timezone.now()
    overdue = Q(
        status=Status.STAGING,
        approval_state=ApprovalState.AWAITING,
        approval_expires_at__lte=now,
    )
    expired = 0
    for request in PrivacyRequest.objects.filter(overdue).only(
        "id", "organization_id", "tracking_id"
    ):
        expired += _close(
            request,
            actor=SYSTEM,
            now=now,
            state=ApprovalState.EXPIRED,
            action=AuditAction.APPROVAL_EXPIRED,
            reason=EXPIRED_REASON,
            condition=overdue,
        )
    return expired
