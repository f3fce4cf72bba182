"""Writes of accounts: users, organizations, memberships and GDPR tokens (service accounts:
accounts.service_accounts).

Services that take an `actor` enforce its role; the operator at the command line (createorg,
addmember) and active staff in the back office may do anything except leave an organization
without an owner (and staff never change their own membership). Every membership change is
recorded in the organization's audit chain (accounts.membership_changes).
"""

from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.errors import (
    GdprTokenExists,
    LastOwner,
    MembershipNotFound,
    NotAllowed,
)
from accounts.membership_changes import (
    MembershipChange,
    membership_change_record,
)
from accounts.models import (
    GdprToken,
    Invitation,
    Membership,
    Organization,
    Role,
    User,
)
from accounts.selectors import MANAGER_ROLES, membership_get
from accounts.tokens import token_generate, token_hash, token_matches

GDPR_TOKEN_PREFIX = "gdpr_"  # noqa: S105 (a prefix, not a secret)
# last_used_at is a hint for people, not an audit record: write it at most once a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def user_get_or_create(*, email: str, password: str | None = None) -> tuple[User, bool]:
    """The user with this email, created if new. A new account, or one whose password the
    operator sets, gets a verified address: whoever added it vouches for it."""
    email = User.objects.normalize_email(email).strip().lower()
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        created = user is None
        if user is None:
            user = User.objects.create_user(email=email, password=password)
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
        if created or password:
            EmailAddress.objects.update_or_create(
                user=user,
                email__iexact=email,
                defaults={"email": email, "verified": True, "primary": True},
            )
    return user, created


def organization_create(*, name: str, owner: User) -> Organization:
    with transaction.atomic():
        organization = Organization.objects.create(name=name.strip())
        Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    return organization


def organization_create_for_signup(*, user: User) -> Organization:
    local_part = user.email.split("@", 1)[0]
    return organization_create(name=f"{local_part}'s organization", owner=user)


def _require_manager(*, actor: Actor, organization: Organization) -> Role | None:
    """The actor's role, if it may manage members; None for those no role applies to: the
    operator, the system, and active staff acting from the back office."""
    if actor.is_trusted:
        return None
    if actor.via == "staff":
        if actor.user is not None and actor.user.is_active and actor.user.is_staff:
            return None
        raise NotAllowed("Only staff can manage members from the back office.")
    membership = membership_get(user=actor.user, organization=organization) if actor.user else None
    if membership is None or membership.role not in MANAGER_ROLES:
        raise NotAllowed("Only owners and admins can manage members.")
    return Role(membership.role)


def _refuse_own_membership_from_back_office(*, actor: Actor, user: User) -> None:
    # The back office lets staff reach any organization; a staff user who needs access to one
    # must be given it by its owners, on the members page, like anyone else.
    if actor.via == "staff" and actor.user is not None and actor.user.pk == user.pk:
        raise NotAllowed(
            "Staff cannot change their own membership from the back office: ask an owner of "
            "the organization."
        )


def _lock_members(organization: Organization) -> None:
    # Serializes membership changes of one organization, so two concurrent demotions
    # cannot both see "another owner remains".
    list(Membership.objects.select_for_update().filter(organization=organization).values("id"))


def _other_owners_exist(*, membership: Membership) -> bool:
    return (
        Membership.objects.filter(organization_id=membership.organization_id, role=Role.OWNER)
        .exclude(id=membership.id)
        .exists()
    )


def _require_inviter(
    *, actor: Actor, organization: Organization, user: User, invitation: Invitation, role: Role
) -> Role | None:
    """The inviter's role now, if it may still grant the invitation: a person accepting an
    invitation acts for themselves, on the authority of whoever invited them."""
    if (
        actor.user is None
        or actor.user.pk != user.pk
        or invitation.organization_id != (organization.id)
    ):
        raise NotAllowed("Only the invited person can accept an invitation, for themselves.")
    no_longer = NotAllowed(
        "Whoever invited you can no longer grant this role: ask an owner or admin of the "
        "organization for a new invitation."
    )
    if invitation.invited_by is None:
        raise no_longer
    try:
        inviter_role = _require_manager(
            actor=Actor(user=invitation.invited_by, via="web"), organization=organization
        )
    except NotAllowed as exc:
        raise no_longer from exc
    if role == Role.OWNER and inviter_role != Role.OWNER:
        raise no_longer
    return inviter_role


def membership_set(
    *,
    actor: Actor,
    organization: Organization,
    user: User,
    role: Role | str,
    invitation: Invitation | None = None,
) -> tuple[Membership, bool]:
    """Adds the user to the organization with this role, or changes their role.

    With `invitation`, the user accepts it (accounts.invitations): the actor is the user, and
    the inviter's role as it is now, not as it was when they invited, must allow the grant;
    the audit entry names the invitation and the inviter."""
    role = Role(role)
    with transaction.atomic():
        if invitation is None:
            actor_role = _require_manager(actor=actor, organization=organization)
        else:
            actor_role = _require_inviter(
                actor=actor, organization=organization, user=user, invitation=invitation, role=role
            )
        _refuse_own_membership_from_back_office(actor=actor, user=user)
        _lock_members(organization)
        membership = Membership.objects.filter(organization=organization, user=user).first()
        touches_owner = role == Role.OWNER or (
            membership is not None and membership.role == Role.OWNER
        )
        if touches_owner and actor_role not in (None, Role.OWNER):
            raise NotAllowed("Only owners can grant or revoke the owner role.")
        if membership is None:
            membership = Membership.objects.create(organization=organization, user=user, role=role)
            membership_change_record(
                actor=actor,
                change=MembershipChange.of(
                    membership, before=None, after=role, invitation=invitation
                ),
            )
            return membership, True
        if membership.role == Role.OWNER and role != Role.OWNER:
            if not _other_owners_exist(membership=membership):
                raise LastOwner("The last owner cannot be demoted: make someone else owner first.")
        if membership.role != role:
            before = Role(membership.role)
            membership.role = role
            membership.save(update_fields=["role"])
            membership_change_record(
                actor=actor, change=MembershipChange.of(membership, before=before, after=role)
            )
    return membership, False


def membership_add_by_email(
    *,
    actor: Actor,
    organization: Organization,
    email: str,
    role: Role | str,
    password: str | None = None,
) -> tuple[Membership, bool]:
    """The operator's `addmember` (DESIGN section 11): adds a person by email at once; a new
    address gets an account with no password until they set one through "Forgot password".
    People on the members page invite instead (accounts.invitations): nobody becomes a member
    there without accepting."""
    if not actor.is_trusted:
        raise NotAllowed("Members are invited: they join when they accept the invitation.")
    with transaction.atomic():
        user, _ = user_get_or_create(email=email, password=password)
        return membership_set(actor=actor, organization=organization, user=user, role=role)


def membership_change_role(*, actor: Actor, membership: Membership, role: Role | str) -> Membership:
    membership, _ = membership_set(
        actor=actor, organization=membership.organization, user=membership.user, role=role
    )
    return membership


def membership_remove(*, actor: Actor, membership: Membership) -> None:
    with transaction.atomic():
        actor_role = _require_manager(actor=actor, organization=membership.organization)
        _lock_members(membership.organization)
        try:
            membership = Membership.objects.get(id=membership.id)
        except Membership.DoesNotExist as exc:
            raise MembershipNotFound("This person is no longer a member.") from exc
        _refuse_own_membership_from_back_office(actor=actor, user=membership.user)
        if membership.role == Role.OWNER:
            if actor_role not in (None, Role.OWNER):
                raise NotAllowed("Only owners can remove an owner.")
            if not _other_owners_exist(membership=membership):
                raise LastOwner("The last owner cannot be removed: make someone else owner first.")
        change = MembershipChange.of(membership, before=Role(membership.role), after=None)
        membership.delete()
        membership_change_record(actor=actor, change=change)


def _gdpr_token_lifetime() -> timedelta:
    return timedelta(days=settings.PRIVACY_GDPR_TOKEN_LIFETIME_DAYS)


def gdpr_token_issue(*, user: User) -> str:
    """Issues the user's first GDPR token and returns it; it is never shown again."""
    with transaction.atomic():
        if GdprToken.objects.select_for_update().filter(user=user).exists():
            raise GdprTokenExists("This user already has a GDPR token; reset it instead.")
        raw = token_generate(prefix=GDPR_TOKEN_PREFIX)
        now = timezone.now()
        GdprToken.objects.create(
            user=user,
            token_hash=token_hash(raw),
            created_at=now,
            expires_at=now + _gdpr_token_lifetime(),
        )
    return raw


def gdpr_token_reset(*, user: User) -> str:
    """Replaces the user's GDPR token: the old one stops working at once."""
    raw = token_generate(prefix=GDPR_TOKEN_PREFIX)
    now = timezone.now()
    with transaction.atomic():
        GdprToken.objects.update_or_create(
            user=user,
            defaults={
                "token_hash": token_hash(raw),
                "created_at": now,
                "expires_at": now + _gdpr_token_lifetime(),
                "last_used_at": None,
            },
        )
    return raw


def gdpr_token_verify(*, raw_token: str) -> User | None:
    """The active user this token belongs to, or None if it is unknown, expired or inactive."""
    if not raw_token or not raw_token.startswith(GDPR_TOKEN_PREFIX) or len(raw_token) > 200:
        return None
    token = (
        GdprToken.objects.select_related("user").filter(token_hash=token_hash(raw_token)).first()
    )
    if token is None or not token_matches(raw=raw_token, stored_hash=token.token_hash):
        return None
    now = timezone.now()
    if token.expires_at <= now or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        GdprToken.objects.filter(id=token.id).update(last_used_at=now)
    return token.user
