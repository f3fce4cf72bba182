"""Who acts: the one actor type every service of every app takes.

A person acts through an interface (`via`); an organization's service account acts through the
API; the system (workers, the sweep) and the operator at the command line act with no user.
The audit trail keeps the actor as `text`, so no deleted user or account takes an entry with it.
"""

from dataclasses import dataclass
from typing import Literal, cast

from django.http import HttpRequest

from accounts.models import ServiceAccount, User

Via = Literal["web", "api", "staff", "system", "cli"]
# Actors that no role check applies to: they act for the installation itself.
TRUSTED_VIAS = ("system", "cli")


@dataclass(frozen=True)
class Actor:
    user: User | None
    via: Via
    # Set instead of `user` when an organization's service account acts (through the API).
    service_account: ServiceAccount | None = None

    @property
    def text(self) -> str:
        if self.service_account is not None:
            return f"{self.via}:service-account:{self.service_account.username}"
        if self.user is None:
            return self.via
        return f"{self.via}:{self.user.email}"

    @property
    def is_trusted(self) -> bool:
        return self.via in TRUSTED_VIAS and self.service_account is None


SYSTEM = Actor(user=None, via="system")
OPERATOR = Actor(user=None, via="cli")


def web_actor(request: HttpRequest) -> Actor:
    """The signed-in person behind a web page's request (the pages require sign-in)."""
    return Actor(user=cast(User, request.user), via="web")


def staff_actor(request: HttpRequest) -> Actor:
    """The staff user behind a back-office request (the admin requires sign-in)."""
    return Actor(user=cast(User, request.user), via="staff")


def service_account_actor(service_account: ServiceAccount) -> Actor:
    """An organization's service account acting through the API (HTTP Basic)."""
    return Actor(user=None, via="api", service_account=service_account)
