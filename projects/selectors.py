from django.db.models import QuerySet

from accounts.models import User
from projects.models import Project


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Every project of every organization the user belongs to, whatever their role."""
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    return (
        Project.objects.filter(organization__memberships__user=user)
        .select_related("organization")
        .order_by("organization__name", "organization_id", "name")
    )


def project_get_for_user(*, user: User, project_id: int) -> Project | None:
    """The project if the user is a member of its organization; None (answer 404) otherwise."""
    return project_list_for_user(user=user).filter(id=project_id).first()


def project_get_by_token(*, token: str) -> Project | None:
    if not token or len(token) > 64:
        return None
    return Project.objects.select_related("organization").filter(token=token).first()
