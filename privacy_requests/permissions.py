"""The one permission function of DESIGN section 9; every interface calls it."""

from accounts.actors import Actor
from accounts.models import ServiceAccount, ServiceAccountRole, User
from accounts.selectors import MANAGER_ROLES, membership_get
from privacy_requests.errors import NotAllowed
from projects.models import Project
from projects.selectors import service_account_is_granted


def can_act_on_privacy_requests(
    *, user: User | None, project: Project, service_account: ServiceAccount | None = None
) -> bool:
    """May this user, or this service account, see, submit, cancel or download privacy
    requests of this project?

    Only active owners and admins of the project's organization may. Staff status grants
    nothing here: staff operate requests in the admin, which does not use this function. A
    service account may when it has role admin, is neither revoked nor expired, and is granted
    this project of its own organization.
    """
    if service_account is not None:
        return (
            service_account.role == ServiceAccountRole.ADMIN
            and service_account.is_usable()
            and service_account_is_granted(service_account=service_account, project=project)
        )
    if user is None or not user.is_authenticated:
        return False
    membership = membership_get(user=user, organization=project.organization)
    return membership is not None and membership.role in MANAGER_ROLES


def actor_require(*, actor: Actor, project: Project) -> None:
    """Owners and admins act through the web and the API, admin service accounts through the
    API; staff through the admin; the system and the command-line operator always may."""
    if actor.is_trusted:
        return
    if actor.via == "staff":
        if actor.user is not None and actor.user.is_active and actor.user.is_staff:
            return
        raise NotAllowed("Only staff can act from the back office.")
    if actor.service_account is not None and actor.via != "api":
        raise NotAllowed("Service accounts act through the API only.")
    if not can_act_on_privacy_requests(
        user=actor.user, project=project, service_account=actor.service_account
    ):
        raise NotAllowed(
            "Only owners and admins of the project's organization can act on its privacy requests."
        )
