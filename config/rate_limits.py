"""Rate limits shared by every web process (issue 15, finding 10; issue 16, section 1); the GDPR
API's throttles (privacy_requests/api/throttling.py) use them.

Each limit is a GCRA (generic cell rate algorithm): a rate of N per period lets a burst of N
through, then one request every period/N, so no window boundary doubles the rate (a fixed
window let two creates through 0.49 s apart across a second's boundary). The state is one
timestamp per key, kept where the cache is: in Redis (when the default cache is Redis, as in
production), updated by one Lua script, so every gunicorn worker on every host counts in the
same place and two racing requests can never both take the last slot; otherwise in this
process.

When Redis does not answer, the limits are counted in each process instead (so each process
allows the full rate: degraded, never off), the process logs it once, tries Redis again after
REDIS_RETRY_SECONDS, and logs once more when Redis is back. A limiter never answers 500.
"""

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
REDIS_CACHES = ("django.core.cache.backends.redis.RedisCache", "config.cache.FailSoftRedisCache")
# A limiter must not hold a request for long when Redis is unreachable rather than down.
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_RETRY_SECONDS = 5.0
KEY_PREFIX = "privacy:rate:"
# The local store forgets keys whose state has gone back to "nothing spent" past this size.
LOCAL_PRUNE_SIZE = 10_000

# KEYS[1]: the key; ARGV: emission interval and burst window (ms), then "acquire" (take a slot
# if one is free) or "refund" (give back a slot taken). The server's clock, so that hosts with
# different clocks agree. Returns -1 when done, else the milliseconds until a slot frees.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local stored = tonumber(redis.call('GET', KEYS[1]))
if ARGV[3] == 'refund' then
  if stored == nil then return -1 end
  local earlier = stored - interval
  if earlier <= now then redis.call('DEL', KEYS[1])
  else redis.call('SET', KEYS[1], earlier, 'PX', earlier - now) end
  return -1
end
local tat = stored or now
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - window
if now < allowed_at then return allowed_at - now end
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return -1
"""


@dataclass(frozen=True)
class Rate:
    limit: int
    period: float  # seconds

    @classmethod
    def parse(cls, rate: str) -> "Rate":
        """'10/s' → 10 a second; '100/min' → 100 a minute."""
        count, _, unit = rate.partition("/")
        return cls(limit=int(count), period=float(UNITS[unit.strip().lower()]))

    @property
    def interval(self) -> float:
        return self.period / self.limit


def local_clock() -> float:
    """The local store's clock (tests replace it)."""
    return time.monotonic()


class _LocalGcra:
    """This process's limits: when the cache is not Redis, or while Redis does not answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}

    def acquire(self, key: str, rate: Rate, *, refund: bool) -> float | None:
        with self._lock:
            now = local_clock()
            stored = self._tat.get(key)
            if refund:
                if stored is not None:
                    self._tat[key] = stored - rate.interval
                return None
            next_tat = max(stored or now, now) + rate.interval
            allowed_at = next_tat - rate.period
            if now < allowed_at:
                return allowed_at - now
            if len(self._tat) > LOCAL_PRUNE_SIZE:
                self._tat = {k: tat for k, tat in self._tat.items() if tat > now}
            self._tat[key] = next_tat
            return None

    def clear(self) -> None:
        with self._lock:
            self._tat.clear()


class _SharedUnavailable(Exception):
    pass


class _RedisGcra:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, redis.commands.core.Script] = {}
        self._retry_at = 0.0
        self._down = False

    def _script(self, location: str):
        with self._lock:
            script = self._scripts.get(location)
            if script is None:
                client = redis.Redis.from_url(
                    location,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                )
                script = self._scripts[location] = client.register_script(GCRA_SCRIPT)
            return script

    def acquire(self, location: str, key: str, rate: Rate, *, refund: bool) -> float | None:
        if self._down and time.monotonic() < self._retry_at:
            raise _SharedUnavailable
        try:
            waited_ms = self._script(location)(
                keys=[key],
                args=[
                    max(1, round(rate.interval * 1000)),
                    round(rate.period * 1000),
                    "refund" if refund else "acquire",
                ],
            )
        except (redis.RedisError, OSError) as exc:
            self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS
            if not self._down:
                self._down = True
                logger.error(
                    "Redis does not answer (%s): the API's rate limits are counted in each "
                    "process until it does.",
                    exc,
                )
            raise _SharedUnavailable from exc
        if self._down:
            self._down = False
            logger.warning("Redis answers again: the API's rate limits are shared again.")
        return None if int(waited_ms) < 0 else int(waited_ms) / 1000


_local = _LocalGcra()
_shared = _RedisGcra()


def _redis_location() -> str | None:
    cache = settings.CACHES.get("default", {})
    if cache.get("BACKEND") not in REDIS_CACHES:
        return None
    location = cache.get("LOCATION")
    return location[0] if isinstance(location, list | tuple) else location


def rate_limit_acquire(*, key: str, rate: Rate, refund: bool = False) -> float | None:
    """Takes one slot of `rate` under `key`: None when taken, else the seconds until one
    frees. With refund=True, gives back a slot taken earlier (and returns None)."""
    key = KEY_PREFIX + key
    location = _redis_location()
    if location is not None:
        try:
            return _shared.acquire(location, key, rate, refund=refund)
        except _SharedUnavailable:
            pass
    return _local.acquire(key, rate, refund=refund)


def rate_limits_reset_local() -> None:
    """Forgets this process's counts (tests)."""
    _local.clear()


def client_address(request) -> str:
    """The address a request came from: REMOTE_ADDR, unless PRIVACY_TRUSTED_PROXIES proxies
    (load balancers) stand in front, each appending the address it saw to X-Forwarded-For: then
    the one the outermost trusted proxy saw. Entries further left are the client's to write,
    so they count for nothing."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.PRIVACY_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < proxies:
        return remote
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
