from django.db.models import QuerySet

from accounts.models import User
from accounts.selectors import MANAGER_ROLES
from privacy_requests.models import PrivacyRequest


def privacy_request_list_for_user(*, user: User) -> QuerySet[PrivacyRequest]:
    """Requests of every organization where the user is an owner or admin."""
    if not user.is_authenticated or not user.is_active:
        return PrivacyRequest.objects.none()
    return PrivacyRequest.objects.filter(
        organization__memberships__user=user, organization__memberships__role__in=MANAGER_ROLES
    ).select_related("project", "organization")


def privacy_request_get_for_user(*, user: User, tracking_id: str) -> PrivacyRequest | None:
    """The request if the user may act on it; None (answer 404) otherwise."""
    return privacy_request_list_for_user(user=user).filter(tracking_id=tracking_id).first()


def privacy_request_result_url(*, request: PrivacyRequest, absolute_base: str) -> str:
    """The signed link to the export or the deletion receipt, or "" while there is none."""
    from privacy_requests.exports.downloads import export_download_url

    return export_download_url(request, absolute_base=absolute_base)


def privacy_request_given_ids(*, request: PrivacyRequest) -> list[str]:
    """The distinct_ids the requester gave, in their order (not the linked ones)."""
    return list(
        request.subjects.filter(linked=False)
        .order_by("position")
        .values_list("distinct_id", flat=True)
    )
