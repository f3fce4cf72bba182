"""The default cache: Redis when REDIS_URL names one, and this process's memory while Redis does
not answer (issue 16, section 1).

Nothing the site caches is the truth (allauth's rate limits on sign-in and password reset, the
engage query's page starts): a cache that fails must not fail the page. Django's RedisCache
raises ConnectionError into the view, so signing in answered 500 with Redis stopped. This
backend answers from a per-process memory cache instead, logs once that it does, asks Redis
again after RETRY_SECONDS and logs once more when Redis is back. Limits counted in memory
meanwhile are per process: degraded, never off.
"""

import logging
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
# A page must not wait long on a Redis that is unreachable rather than refusing connections.
TIMEOUT_SECONDS = 0.5

_OPERATIONS = (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "get_many",
    "has_key",
    "incr",
    "set_many",
    "delete_many",
    "clear",
)


class _Outage:
    """One per process: whether Redis answered last time, and when to ask it again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down = False
        self.retry_at = 0.0

    def skip_redis(self) -> bool:
        return self.down and time.monotonic() < self.retry_at

    def failed(self, exc: Exception) -> None:
        with self._lock:
            self.retry_at = time.monotonic() + RETRY_SECONDS
            if not self.down:
                self.down = True
                logger.error(
                    "Redis does not answer (%s): the cache is kept in each process until it does.",
                    exc,
                )

    def answered(self) -> None:
        if self.down:
            with self._lock:
                if self.down:
                    self.down = False
                    logger.warning("Redis answers again: the cache is shared again.")


_outage = _Outage()


def _fail_soft(name: str) -> Callable[..., Any]:
    shared = getattr(RedisCache, name)

    @wraps(shared)
    def operation(self: "FailSoftRedisCache", *args: Any, **kwargs: Any) -> Any:
        if not _outage.skip_redis():
            try:
                result = shared(self, *args, **kwargs)
            except (RedisError, OSError) as exc:
                _outage.failed(exc)
            else:
                _outage.answered()
                return result
        return getattr(self._local, name)(*args, **kwargs)

    return operation


class FailSoftRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        params = {**params, "OPTIONS": {**_default_options(), **params.get("OPTIONS", {})}}
        super().__init__(server, params)
        self._local = LocMemCache(f"fail-soft:{server}", params)


for _name in _OPERATIONS:
    setattr(FailSoftRedisCache, _name, _fail_soft(_name))


def _default_options() -> dict[str, float]:
    return {"socket_connect_timeout": TIMEOUT_SECONDS, "socket_timeout": TIMEOUT_SECONDS}
