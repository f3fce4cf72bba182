"""Who acts on a request, and whether they may."""

from dataclasses import dataclass
from typing import Literal

from accounts.models import User
from privacy_requests.errors import NotAllowed
from privacy_requests.permissions import can_act_on_privacy_requests
from projects.models import Project

Via = Literal["web", "api", "staff", "system", "cli"]


@dataclass(frozen=True)
class Actor:
    user: User | None
    via: Via

    @property
    def text(self) -> str:
        if self.user is None:
            return self.via
        return f"{self.via}:{self.user.email}"


SYSTEM = Actor(user=None, via="system")
OPERATOR = Actor(user=None, via="cli")


def actor_require(*, actor: Actor, project: Project) -> None:
    """Owners and admins act through the web and the API; staff through the admin; the system
    and the command-line operator always may."""
    if actor.via in ("system", "cli"):
        return
    if actor.via == "staff":
        if actor.user is not None and actor.user.is_active and actor.user.is_staff:
            return
        raise NotAllowed("Only staff can act from the back office.")
    if not can_act_on_privacy_requests(user=actor.user, project=project):
        raise NotAllowed(
            "Only owners and admins of the project's organization can act on its privacy requests."
        )
