"""The GDPR API's rate limits (DESIGN section 6): per principal, 1 create and 10 reads a second
by default, for each person (whatever their token) and each service account; per client
address, 30 failed authentications (401) a minute, after which every request from that address
is answered 429 until the budget refills, before its credentials are even looked at. Counted by
config/rate_limits.py: a GCRA shared through Redis, per process while Redis does not answer.
"""

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from accounts.models import ServiceAccount
from config.rate_limits import Rate, client_address, rate_limit_acquire


class GdprTokenRateThrottle(BaseThrottle):
    scope: str = ""  # "create" or "read"

    def allow_request(self, request, view) -> bool:
        principal = _principal(request.user)
        if principal is None:
            return True
        wait = rate_limit_acquire(
            key=f"{self.scope}:{principal}",
            rate=Rate.parse(settings.PRIVACY_API_RATES[self.scope]),
        )
        self._wait = wait
        return wait is None

    def wait(self) -> float | None:
        return self._wait


def _principal(user) -> str | None:
    """Whose budget a request spends: a user's and a service account's ids never share one."""
    if isinstance(user, ServiceAccount):
        return f"service-account-{user.id}"
    user_id = getattr(user, "id", None)
    return None if user_id is None else str(user_id)


class CreateRateThrottle(GdprTokenRateThrottle):
    scope = "create"


class ReadRateThrottle(GdprTokenRateThrottle):
    scope = "read"


class FailedAuthenticationLimit:
    """A view mixin: each 401 spends one slot of the client address's failure budget
    (PRIVACY_API_RATES["auth_failure"]); an address with none left is answered 429 before its
    credentials are checked, so guessing tokens, secrets or Basic credentials stops there, and
    so does the database work of checking them. Addresses behind one NAT share the budget.

    Every request takes a slot before its credentials are checked, and gives it back unless it
    is answered 401: so concurrent guesses cannot all pass the check before any is counted."""

    def initial(self, request, *args, **kwargs):
        wait = rate_limit_acquire(key=_failure_key(request), rate=_failure_rate())
        if wait is not None:
            raise Throttled(wait=wait, detail="Too many failed authentications from your address.")
        request.failure_slot_taken = True
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if getattr(request, "failure_slot_taken", False) and response.status_code != 401:
            request.failure_slot_taken = False
            rate_limit_acquire(key=_failure_key(request), rate=_failure_rate(), refund=True)
        return response


def _failure_key(request) -> str:
    return f"auth-failure:{client_address(request)}"


def _failure_rate() -> Rate:
    return Rate.parse(settings.PRIVACY_API_RATES["auth_failure"])
