"""Per-principal rate limits (DESIGN section 6): 1 create and 10 reads a second by default, for
each person (whatever their token) and each service account.

A fixed window counted with the cache's atomic increment: with Redis as the cache, every
gunicorn worker on every host counts in the same place, and two racing requests can never both
be the one allowed.
"""

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from accounts.models import ServiceAccount

UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def rate_parse(rate: str) -> tuple[int, int]:
    """'10/s' → (10, 1); '100/min' → (100, 60)."""
    count, _, unit = rate.partition("/")
    return int(count), UNITS[unit.strip().lower()]


class GdprTokenRateThrottle(BaseThrottle):
    scope: str = ""  # "create" or "read"

    def allow_request(self, request, view) -> bool:
        limit, window = rate_parse(settings.PRIVACY_API_RATES[self.scope])
        principal = _principal(request.user)
        if principal is None:
            return True
        now = time.time()
        slot = int(now // window)
        key = f"gdpr-api-rate:{self.scope}:{principal}:{slot}"
        cache.add(key, 0, timeout=window + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window + 1)
            count = 1
        self._retry_after = max(1, math.ceil((slot + 1) * window - now))
        return count <= limit

    def wait(self) -> float:
        return self._retry_after


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
