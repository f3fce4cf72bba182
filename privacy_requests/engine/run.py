"""A worker's hold on a STARTED request, as the processors see it.

Every change of a request's row is a conditional UPDATE (`transition`): a worker changes the
request only while it still holds the lease, so two workers (or a worker and a person) racing
on the same request cannot both win.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from privacy_requests.models import PrivacyRequest, Status


def transition(request_id: int, *, condition: Q, **changes) -> bool:
    """Applies `changes` if the row still matches `condition`; True when it did."""
    return PrivacyRequest.objects.filter(condition, id=request_id).update(**changes) == 1


def snapshot_of(request: PrivacyRequest) -> datetime:
    """The snapshot a request recorded when it started (projects.store.events_snapshot_now):
    its work reads and removes only events ingested at or before it."""
    if request.snapshot_at is None:
        raise ValueError(f"Request {request.tracking_id} has no snapshot: it never started.")
    return request.snapshot_at


class LeaseLost(Exception):
    """Another worker took the request over; this one must stop without writing."""


@dataclass
class Run:
    """One worker's hold on a STARTED request, handed to the kind's processor."""

    request: PrivacyRequest
    owner: str
    given_ids: list[str]
    subject_ids: list[str]
    resumed: bool
    progress: dict = field(default_factory=dict)

    def checkpoint(self, progress: dict) -> None:
        """Saves progress and renews the lease; raises LeaseLost if the request was taken."""
        lease_until = timezone.now() + timedelta(seconds=settings.PRIVACY_LEASE_SECONDS)
        if not transition(
            self.request.id,
            condition=Q(status=Status.STARTED, lease_owner=self.owner),
            progress=progress,
            lease_until=lease_until,
        ):
            raise LeaseLost(self.request.tracking_id)
        self.progress = progress
        if settings.PRIVACY_STEP_DELAY_SECONDS:
            time.sleep(settings.PRIVACY_STEP_DELAY_SECONDS)
