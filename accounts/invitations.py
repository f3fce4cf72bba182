"""Invitations (issue 15, finding 7; DESIGN section 8): how a person joins an organization from
the members page.

An owner or admin invites an email address with a role (owners only may invite owners); the
address gets a link holding a random token, of which only the SHA-256 hash is kept. The
membership exists only once the invited person opens the link, signed in with that address,
and accepts: then `membership_set` adds it, audited like every membership change, on the
authority of the inviter's role as it is at that moment. A link works once, for
PRIVACY_INVITATION_LIFETIME_DAYS, until its invitation is revoked or replaced by a newer one to
the same address. Nothing here looks up whether the address has an account, so the inviter
learns nothing about it. The operator's `addmember` still adds members directly.
"""

from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.errors import (
    InvitationNotYours,
    InvitationRefused,
    InvitationUnusable,
    NotAllowed,
)
from accounts.membership_changes import InvitationChange, membership_change_record
from accounts.models import Invitation, Membership, Organization, Role
from accounts.selectors import MANAGER_ROLES, invitation_get_by_token, membership_get
from accounts.services import membership_set
from accounts.tokens import token_generate, token_hash

INVITATION_TOKEN_PREFIX = "inv_"  # noqa: S105 (a prefix, not a secret)
UNUSABLE = (
    "This invitation link cannot be used: it has expired, was already used, or was withdrawn. "
    "Ask whoever invited you for a new one."
)


def invitation_email_normalize(email: str) -> str:
    return email.strip().lower()


def _inviter_role(*, actor: Actor, organization: Organization) -> Role:
    # Invitations come from people of the organization only (the members page): staff and the
    # operator add members through the members services directly.
    membership = (
        membership_get(user=actor.user, organization=organization)
        if actor.user is not None and actor.service_account is None
        else None
    )
    if membership is None or membership.role not in MANAGER_ROLES:
        raise NotAllowed("Only owners and admins can invite members.")
    return Role(membership.role)


def invitation_create(
    *, actor: Actor, organization: Organization, email: str, role: Role | str
) -> tuple[Invitation, str]:
    """Invites the address with the role; returns the invitation and its link token, which is
    never stored and never shown to the inviter: the caller emails it. An open invitation to the
    same address is replaced (its link stops working)."""
    role = Role(role)
    email = invitation_email_normalize(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvitationRefused("Enter a valid email address.") from exc
    inviter_role = _inviter_role(actor=actor, organization=organization)
    if role == Role.OWNER and inviter_role != Role.OWNER:
        raise NotAllowed("Only owners can grant or revoke the owner role.")
    now = timezone.now()
    with transaction.atomic():
        # Serializes the organization's invitations: the day's count and the one open
        # invitation per address hold under concurrent posts.
        # (FOR NO KEY UPDATE: it must not wait for commits of rows that point at it.)
        list(
            Organization.objects.select_for_update(no_key=True)
            .filter(id=organization.id)
            .values("id")
        )
        existing = (
            Membership.objects.filter(organization=organization, user__email__iexact=email)
            .select_related("user")
            .first()
        )
        if existing is not None:
            # The inviter sees the member list anyway: this says nothing new.
            raise InvitationRefused(
                f"{existing.user.email} is already a member ({existing.get_role_display()}). "
                "Change their role in the list instead."
            )
        per_day = settings.PRIVACY_INVITATIONS_PER_DAY
        sent_today = Invitation.objects.filter(
            organization=organization, created_at__gt=now - timedelta(days=1)
        ).count()
        if sent_today >= per_day:
            raise InvitationRefused(
                f"{organization.name} has sent {per_day} invitations in the last 24 hours, the "
                "most it may: try again later."
            )
        replaced = Invitation.objects.filter(
            organization=organization,
            email=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        ).update(revoked_at=now, revoked_by=actor.text)
        raw = token_generate(prefix=INVITATION_TOKEN_PREFIX)
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            token_hash=token_hash(raw),
            invited_by=actor.user,
            invited_by_text=actor.text,
            created_at=now,
            expires_at=now + timedelta(days=settings.PRIVACY_INVITATION_LIFETIME_DAYS),
        )
        membership_change_record(
            actor=actor, change=_change(invitation, event="sent", replaced=replaced)
        )
    return invitation, raw


def invitation_revoke(*, actor: Actor, invitation: Invitation) -> Invitation:
    """Withdraws an open invitation: its link stops working. An invitation to the owner role is
    an owner's to withdraw, as the role is."""
    inviter_role = _inviter_role(actor=actor, organization=invitation.organization)
    if invitation.role == Role.OWNER and inviter_role != Role.OWNER:
        raise NotAllowed("Only owners can withdraw an invitation to the owner role.")
    now = timezone.now()
    with transaction.atomic():
        revoked = Invitation.objects.filter(
            id=invitation.id, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now, revoked_by=actor.text)
        if revoked != 1:
            raise InvitationUnusable(
                f"The invitation to {invitation.email} was already used or withdrawn."
            )
        membership_change_record(actor=actor, change=_change(invitation, event="withdrawn"))
    invitation.revoked_at, invitation.revoked_by = now, actor.text
    return invitation


def _change(invitation: Invitation, *, event: str, replaced: int = 0) -> InvitationChange:
    return InvitationChange(
        organization_id=invitation.organization_id,
        invitation_id=invitation.id,
        email=invitation.email,
        role=str(invitation.role),
        event=event,
        replaced=replaced,
    )


def invitation_for_person(*, raw_token: str) -> Invitation:
    """The invitation a link names, if it can still be accepted."""
    invitation = invitation_get_by_token(raw_token=raw_token)
    if invitation is None or not invitation.is_usable():
        raise InvitationUnusable(UNUSABLE)
    return invitation


def invitation_is_for(*, invitation: Invitation, actor: Actor) -> bool:
    """Whether the signed-in person is the invited address: their login address, confirmed.

    The link alone proves nothing: it may have been forwarded, or read from a log or a
    browser's history. So it vouches for no address (allauth could take it as proof of the
    mailbox at sign-up; we do not let it), and only an account whose owner confirmed this
    address through allauth, or whom the operator vouched for, may accept."""
    user = actor.user
    if user is None or actor.service_account is not None:
        return False
    if invitation_email_normalize(user.email) != invitation.email:
        return False
    return EmailAddress.objects.filter(
        user=user, email__iexact=invitation.email, verified=True
    ).exists()


def invitation_accept(*, actor: Actor, raw_token: str) -> tuple[Membership, bool]:
    """The signed-in person accepts the invitation the link names; returns their membership and
    whether it is new. Someone already a member keeps their role, and the link is used up."""
    with transaction.atomic():
        found = invitation_get_by_token(raw_token=raw_token)
        invitation = (
            # Only the invitation's row: PostgreSQL locks no nullable side of a join.
            Invitation.objects.select_for_update(of=("self",))
            .select_related("organization", "invited_by")
            .filter(id=found.id)
            .first()
            if found is not None
            else None
        )
        if invitation is None or not invitation.is_usable():
            raise InvitationUnusable(UNUSABLE)
        user = actor.user
        if user is None or not invitation_is_for(invitation=invitation, actor=actor):
            raise InvitationNotYours(
                f"This invitation is for {invitation.email}: sign in with that address to "
                "accept it."
            )
        membership = Membership.objects.filter(
            organization=invitation.organization, user=user
        ).first()
        created = False
        if membership is None:
            membership, created = membership_set(
                actor=actor,
                organization=invitation.organization,
                user=user,
                role=invitation.role,
                invitation=invitation,
            )
        Invitation.objects.filter(id=invitation.id).update(
            accepted_at=timezone.now(), accepted_by=user
        )
    return membership, created
