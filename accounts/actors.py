"""Who acts: the one actor type every service of every app takes.

A person acts through an interface (`via`); the system (workers, the sweep) and the operator at
the command line act with no user. The audit trail keeps the actor as `text`, so no deleted user
takes an entry with it.
"""

from dataclasses import dataclass
from typing import Literal, cast

from django.http import HttpRequest

from accounts.models import User

Via = Literal["web", "api", "staff", "system", "cli"]
# Actors that no role check applies to: they act for the installation itself.
TRUSTED_VIAS = ("system", "cli")


@dataclass(frozen=True)
class Actor:
    user: User | None
    via: Via

    @property
    def text(self) -> str:
        if self.user is None:
            return self.via
        return f"{self.via}:{self.user.email}"

    @property
    def is_trusted(self) -> bool:
        return self.via in TRUSTED_VIAS


SYSTEM = Actor(user=None, via="system")
OPERATOR = Actor(user=None, via="cli")


def web_actor(request: HttpRequest) -> Actor:
    """The signed-in person behind a web page's request (the pages require sign-in)."""
    return Actor(user=cast(User, request.user), via="web")


def staff_actor(request: HttpRequest) -> Actor:
    """The staff user behind a back-office request (the admin requires sign-in)."""
    return Actor(user=cast(User, request.user), via="staff")
