from django.db.models import F, QuerySet

from accounts.models import (
    GdprToken,
    Invitation,
    Membership,
    Organization,
    Role,
    ServiceAccount,
    User,
)
from accounts.tokens import token_hash

MANAGER_ROLES = (Role.OWNER, Role.ADMIN)


def membership_get(*, user: User, organization: Organization) -> Membership | None:
    if not user.is_authenticated or not user.is_active:
        return None
    return Membership.objects.filter(user=user, organization=organization).first()


def organization_list_for_user(*, user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user).order_by("name", "id")


def organization_get_for_user(*, user: User, organization_id: int) -> Organization | None:
    """The organization if the user belongs to it; None otherwise (callers answer 404)."""
    if not user.is_authenticated:
        return None
    return organization_list_for_user(user=user).filter(id=organization_id).first()


def organization_owner_count(*, organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__email")
    )


def can_manage_members(*, user: User, organization: Organization) -> bool:
    membership = membership_get(user=user, organization=organization)
    return membership is not None and membership.role in MANAGER_ROLES


def membership_get_in_organization(
    *, organization: Organization, membership_id: int
) -> Membership | None:
    """A membership of this organization; None if the id belongs to no row of it."""
    return (
        Membership.objects.filter(organization=organization, id=membership_id)
        .select_related("user", "organization")
        .first()
    )


def membership_get_by_email(*, organization: Organization, email: str) -> Membership | None:
    return (
        Membership.objects.filter(organization=organization, user__email__iexact=email.strip())
        .select_related("user")
        .first()
    )


def gdpr_token_get(*, user: User) -> GdprToken | None:
    return GdprToken.objects.filter(user=user).first()


def can_use_gdpr_token(*, user: User) -> bool:
    """Whether a GDPR token would let this person do anything: the API answers only owners and
    admins, so members (and staff outside every organization) are not offered one."""
    return Membership.objects.filter(user=user, role__in=MANAGER_ROLES).exists()


def is_owner(*, user: User, organization: Organization) -> bool:
    membership = membership_get(user=user, organization=organization)
    return membership is not None and membership.role == Role.OWNER


def service_account_list(*, organization: Organization) -> QuerySet[ServiceAccount]:
    """Every service account of the organization, revoked ones included (the page shows why a
    client stopped working)."""
    return ServiceAccount.objects.filter(organization=organization).order_by(
        F("revoked_at").desc(nulls_first=True), "name", "id"
    )


def service_account_get_in_organization(
    *, organization: Organization, service_account_id: int
) -> ServiceAccount | None:
    """A service account of this organization; None if the id names none of its accounts."""
    return ServiceAccount.objects.filter(organization=organization, id=service_account_id).first()


# An invitation token is ASCII text of a few dozen characters; anything else names none.
_MAX_INVITATION_TOKEN_LENGTH = 100


def invitation_get_by_token(*, raw_token: str) -> Invitation | None:
    """The invitation a link's token names, whatever its state; None if it names none."""
    if not raw_token or len(raw_token) > _MAX_INVITATION_TOKEN_LENGTH:
        return None
    if not raw_token.isascii() or not raw_token.isprintable():
        return None
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=token_hash(raw_token))
        .first()
    )


def invitation_list_open(*, organization: Organization) -> QuerySet[Invitation]:
    """The organization's invitations neither accepted nor revoked, expired ones included (the
    inviter sees that they lapsed), newest first."""
    return Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True
    ).order_by("-created_at", "-id")


def invitation_get_in_organization(
    *, organization: Organization, invitation_id: int
) -> Invitation | None:
    return (
        Invitation.objects.filter(organization=organization, id=invitation_id)
        .select_related("organization")
        .first()
    )
