"""Membership changes in the organization's audit chain (DESIGN section 3; issue 15).

The members services live in accounts, which cannot import the chain; at start-up
privacy_requests.apps installs `membership_change_audit` as their recorder, so the members page,
the back office and the command line all leave the same entry, in the change's transaction.
"""

from accounts.actors import Actor
from accounts.membership_changes import MembershipChange
from privacy_requests.audit import audit_append
from privacy_requests.models import AuditAction


def membership_change_audit(*, actor: Actor, change: MembershipChange) -> None:
    """Appends the change to its organization's chain: who, whose role, before and after,
    and, for an accepted invitation, who invited them."""
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
