"""Writes of worker heartbeats (the thread in privacy_requests.worker calls these)."""

from datetime import datetime, timedelta

from django.utils import timezone

from privacy_requests.models import WorkerHeartbeat

# A worker killed without warning leaves its row; after a day it is history, not a worker.
FORGET_AFTER = timedelta(days=1)


def worker_heartbeat_record(
    *,
    name: str,
    host: str,
    pid: int,
    started_at: datetime,
    current_tracking_id: str = "",
    now: datetime | None = None,
) -> None:
    """One cheap UPDATE per beat; an INSERT only the first time (or when the row went away)."""
    now = now or timezone.now()
    changes = {"last_seen_at": now, "current_tracking_id": current_tracking_id}
    if WorkerHeartbeat.objects.filter(name=name).update(**changes):
        return
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={"host": host, "pid": pid, "started_at": started_at, **changes},
    )
    WorkerHeartbeat.objects.filter(last_seen_at__lt=now - FORGET_AFTER).delete()


def worker_heartbeat_remove(*, name: str) -> None:
    WorkerHeartbeat.objects.filter(name=name).delete()
