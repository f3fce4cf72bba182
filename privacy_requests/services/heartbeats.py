"""Writes of worker heartbeats (the thread in privacy_requests.worker calls these).

Times are the database's clock (NOW()), as are the readers' comparisons: workers and web
processes run on many hosts whose clocks may differ by more than a beat.
"""

from datetime import datetime, timedelta

from django.db.models.functions import Now

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
    seen = now or Now()
    changes = {"last_seen_at": seen, "current_tracking_id": current_tracking_id}
    if WorkerHeartbeat.objects.filter(name=name).update(**changes):
        return
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={"host": host, "pid": pid, "started_at": started_at, **changes},
    )
    WorkerHeartbeat.objects.filter(last_seen_at__lt=(now or Now()) - FORGET_AFTER).delete()


def worker_heartbeat_remove(*, name: str) -> None:
    WorkerHeartbeat.objects.filter(name=name).delete()
