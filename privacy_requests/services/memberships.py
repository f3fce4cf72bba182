"""Changes of who may act for an organization in its audit chain (DESIGN section 3; issue 15):
memberships, invitations, service accounts.

The members services live in accounts, which cannot import the chain; at start-up
privacy_requests.apps installs `membership_change_audit` as their recorder, so the members page,
the back office and the command line all leave the same entry, in the change's transaction.
"""

from accounts.actors import Actor
from accounts.membership_changes import (
    AccessChange,
    InvitationChange,
    MembershipChange,
    ServiceAccountChange,
)
from privacy_requests.audit import audit_append
from privacy_requests.models import AuditAction


def membership_change_audit(*, actor: Actor, change: AccessChange) -> None:
    """Appends the change to its organization's chain: for a membership, whose role, before
    and after, and, for an accepted invitation, who invited them; for an invitation or a
    service account, which one, its role, and what happened to it."""
    if isinstance(change, InvitationChange):
        audit_append(
            organization_id=change.organization_id,
            actor=actor.text,
            action=(
                AuditAction.INVITATION_SENT
                if change.event == "sent"
                else AuditAction.INVITATION_WITHDRAWN
            ),
            detail={
                "invitation_id": change.invitation_id,
                "email": change.email,
                "role": change.role,
                **({"replaced": change.replaced} if change.replaced else {}),
            },
        )
        return
    if isinstance(change, ServiceAccountChange):
        audit_append(
            organization_id=change.organization_id,
            actor=actor.text,
            action=(
                AuditAction.SERVICE_ACCOUNT_CREATED
                if change.event == "created"
                else AuditAction.SERVICE_ACCOUNT_REVOKED
            ),
            detail={
                "service_account_id": change.service_account_id,
                "username": change.username,
                "name": change.name,
                "role": change.role,
                **({"expires_at": change.expires_at} if change.expires_at else {}),
                **({"project_ids": list(change.project_ids)} if change.project_ids else {}),
            },
        )
        return
    _membership_audit(actor=actor, change=change)


def _membership_audit(*, actor: Actor, change: MembershipChange) -> None:
    detail: dict[str, object] = {
        "user_id": change.user_id,
        "email": change.email,
        "role_before": change.role_before,
        "role_after": change.role_after,
    }
    if change.invitation_id is not None:
        detail["invitation_id"] = change.invitation_id
        detail["invited_by"] = change.invited_by
    audit_append(
        organization_id=change.organization_id,
        actor=actor.text,
        action=AuditAction.MEMBERSHIP_CHANGED,
        detail=detail,
    )
