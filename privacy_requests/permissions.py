"""The one permission function of DESIGN section 9; every interface calls it."""

from accounts.models import Role, User
from accounts.selectors import membership_get
from projects.models import Project

PRIVACY_ROLES = (Role.OWNER, Role.ADMIN)


def can_act_on_privacy_requests(*, user: User | None, project: Project) -> bool:
    """May this user see, submit, cancel or download privacy requests of this project?

    Only active owners and admins of the project's organization may. Staff status grants
    nothing here: staff operate requests in the admin, which does not use this function.
    """
    if user is None or not user.is_authenticated:
        return False
    membership = membership_get(user=user, organization=project.organization)
    return membership is not None and membership.role in PRIVACY_ROLES
