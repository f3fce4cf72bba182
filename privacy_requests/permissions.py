"""The one permission function of DESIGN section 9; every interface calls it."""

from accounts.actors import Actor
from accounts.models import User
from accounts.selectors import MANAGER_ROLES, membership_get
from privacy_requests.errors import NotAllowed
from projects.models import Project


def can_act_on_privacy_requests(*, user: User | None, project: Project) -> bool:
    """May this user see, submit, cancel or download privacy requests of this project?

    Only active owners and admins of the project's organization may. Staff status grants
    nothing here: staff operate requests in the admin, which does not use this function.
    """
    if user is None or not user.is_authenticated:
        return False
    membership = membership_get(user=user, organization=project.organization)
    return membership is not None and membership.role in MANAGER_ROLES


def actor_require(*, actor: Actor, project: Project) -> None:
    """Owners and admins act through the web and the API; staff through the admin; the system
    and the command-line operator always may."""
    if actor.is_trusted:
        return
    if actor.via == "staff":
        if actor.user is not None and actor.user.is_active and actor.user.is_staff:
            return
        raise NotAllowed("Only staff can act from the back office.")
    if not can_act_on_privacy_requests(user=actor.user, project=project):
        raise NotAllowed(
            "Only owners and admins of the project's organization can act on its privacy requests."
        )
