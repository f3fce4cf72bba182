"""Is a worker alive? Reads of the heartbeats, for /readyz and the pages' banner."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from privacy_requests.models import PrivacyRequest, Status, WorkerHeartbeat

# /readyz wants a worker seen within a minute; the pages warn after two (a few missed beats).
READY_WITHIN = timedelta(minutes=1)
BANNER_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class WorkerWarning:
    waiting: int
    last_seen_at: datetime | None


def worker_seen_within(within: timedelta, *, now: datetime | None = None) -> bool:
    """By the database's clock unless `now` is given, as the heartbeats are written."""
    return WorkerHeartbeat.objects.filter(last_seen_at__gte=(now or Now()) - within).exists()


def waiting_for_worker_q(now: datetime) -> Q:
    """Requests a worker should be taking now: new ones, and deletions past their grace."""
    return Q(status=Status.PENDING) | Q(status=Status.STAGING, not_before__lte=now)


def worker_missing_warning(
    *, organization_id: int | None = None, now: datetime | None = None
) -> WorkerWarning | None:
    """What the banner says when no worker was seen for BANNER_AFTER while requests wait (of
    one organization, or any); None otherwise, and always when jobs run in the web process."""
    if settings.JOBS_SYNC:
        return None
    if worker_seen_within(BANNER_AFTER, now=now):
        return None
    now = now or timezone.now()
    waiting = PrivacyRequest.objects.filter(waiting_for_worker_q(now))
    if organization_id is not None:
        waiting = waiting.filter(organization_id=organization_id)
    count = waiting.count()
    if not count:
        return None
    last = WorkerHeartbeat.objects.order_by("-last_seen_at").values_list("last_seen_at", flat=True)
    return WorkerWarning(waiting=count, last_seen_at=last.first())
