"""Changes of who may act for an organization (memberships, invitations, service accounts) are
recorded in the organization's audit chain, which privacy_requests keeps and accounts cannot
import (accounts ← projects ← privacy_requests).

So accounts declares what a change is and who records it, and the members services call the
one recorder installed at start-up (privacy_requests.apps installs the audit chain's) inside
the change's own transaction: the change and its record commit together or not at all. With no
recorder installed the services refuse to change anything rather than change it unrecorded.
"""

from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from accounts.actors import Actor
from accounts.models import Invitation, Membership, Role


@dataclass(frozen=True)
class MembershipChange:
    """One person's role in one organization, before and after; None where there is no
    membership (before an addition, after a removal)."""

    organization_id: int
    user_id: int
    email: str
    role_before: Role | None
    role_after: Role | None
    # Set when the person accepted an invitation: who invited them (as text), and which one.
    invited_by: str | None = None
    invitation_id: int | None = None

    @classmethod
    def of(
        cls,
        membership: Membership,
        *,
        before: Role | None,
        after: Role | None,
        invitation: Invitation | None = None,
    ) -> "MembershipChange":
        return cls(
            organization_id=membership.organization_id,
            user_id=membership.user_id,
            email=membership.user.email,
            role_before=before,
            role_after=after,
            invited_by=invitation.invited_by_text if invitation is not None else None,
            invitation_id=invitation.id if invitation is not None else None,
        )


@dataclass(frozen=True)
class InvitationChange:
    """An invitation sent or withdrawn (`event`: "sent" or "withdrawn"); `replaced` how many
    open invitations to the same address a new one replaced."""

    organization_id: int
    invitation_id: int
    email: str
    role: str
    event: str
    replaced: int = 0


@dataclass(frozen=True)
class ServiceAccountChange:
    """A service account created or revoked (`event`: "created" or "revoked")."""

    organization_id: int
    service_account_id: int
    username: str
    name: str
    role: str
    event: str
    expires_at: str | None = None
    project_ids: tuple[int, ...] = ()


AccessChange = MembershipChange | InvitationChange | ServiceAccountChange


class MembershipRecorder(Protocol):
    def __call__(self, *, actor: Actor, change: AccessChange) -> None: ...


_recorder: MembershipRecorder | None = None


def membership_recorder_install(recorder: MembershipRecorder) -> None:
    global _recorder
    _recorder = recorder


def membership_change_record(*, actor: Actor, change: AccessChange) -> None:
    """Records the change; the caller's transaction makes it part of the change."""
    if _recorder is None:
        raise ImproperlyConfigured(
            "No membership change recorder is installed: add privacy_requests to INSTALLED_APPS."
        )
    _recorder(actor=actor, change=change)
