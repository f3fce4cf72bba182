from django.db.models import F, QuerySet

from accounts.models import GdprToken, Membership, Organization, Role, ServiceAccount, User

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
