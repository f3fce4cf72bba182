"""Delivering callbacks (issue 19): one row per event and endpoint, written in the transaction
of the status change, enqueued after its commit; RQ jobs send them and the sweep re-enqueues
whatever Redis lost.

A failed attempt (a timeout, a refused connection, an answer that is not 2xx, a redirect) is
tried again after CALLBACK_RETRY_BASE_SECONDS, then twice as long each time (at most
CALLBACK_RETRY_MAX_DELAY_SECONDS apart), until 24 hours after the delivery was first due; then
it is given up. An address callbacks may not reach is refused at once and never retried.
"""

import http.client
import json
import logging
import math
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.actors import Actor
from accounts.selectors import can_manage_members
from config.jobs import enqueue, get_queue
from config.site_url import email_site_url
from privacy_requests.callbacks.addresses import UnsafeCallbackUrl
from privacy_requests.callbacks.models import (
    CallbackDelivery,
    CallbackEndpoint,
    CallbackEvent,
    DeliveryStatus,
)
from privacy_requests.callbacks.sending import callback_post
from privacy_requests.callbacks.signing import signed_headers
from privacy_requests.deadlines import overdue_q
from privacy_requests.errors import NotAllowed
from privacy_requests.models import PrivacyRequest, RequestKind
from privacy_requests.status_resource import privacy_request_status_results

logger = logging.getLogger(__name__)

DELIVER_JOB = "privacy_requests.tasks.deliver_callback"
# How long one attempt may hold a delivery before the sweep takes it back (a worker died).
LEASE = timedelta(seconds=60)
# A due delivery the queue should have sent this long ago is the sweep's to enqueue again.
SWEEP_GRACE = timedelta(seconds=60)
SEND_ERRORS = (OSError, http.client.HTTPException)


def callback_event_emit(*, request: PrivacyRequest, event: CallbackEvent | str) -> int:
    """Records a delivery of `event` for every endpoint of the request's organization that
    wants it, and enqueues them once the caller's transaction commits. Call it in the
    transaction that changes the request's status; returns how many were recorded."""
    endpoints = CallbackEndpoint.objects.filter(
        Q(project__isnull=True) | Q(project_id=request.project_id),
        organization_id=request.organization_id,
    )
    now = timezone.now()
    window = timedelta(seconds=settings.CALLBACK_RETRY_WINDOW_SECONDS)
    rows = [
        CallbackDelivery(
            delivery_id="msg_" + secrets.token_hex(16),
            endpoint=endpoint,
            request_id=request.id,
            event=event,
            # The request's own callback_url replaces the URL of the endpoint it falls under.
            url=(
                request.callback_url
                if request.callback_url and request.callback_endpoint_id == endpoint.id
                else endpoint.url
            ),
            occurred_at=now,
            next_attempt_at=now,
            retry_until=now + window,
        )
        for endpoint in endpoints
        if str(event) in endpoint.events
    ]
    if not rows:
        return 0
    with transaction.atomic():
        CallbackDelivery.objects.bulk_create(rows)
        pks = list(
            CallbackDelivery.objects.filter(
                delivery_id__in=[row.delivery_id for row in rows]
            ).values_list("id", flat=True)
        )
        # robust: a callback never changes how the status change went (without Redis the
        # job runs here, in process).
        transaction.on_commit(
            lambda: [callback_delivery_enqueue(delivery_pk=pk) for pk in pks], robust=True
        )
    return len(rows)


def callback_delivery_enqueue(*, delivery_pk: int, delay: float = 0) -> bool:
    """Puts an attempt on the queue, now or after `delay` seconds; False (logged, never
    raised) when Redis cannot be reached: the row stays due and the sweep enqueues it."""
    job_id = f"callback-{delivery_pk}-{secrets.token_hex(4)}"
    try:
        if delay > 0:
            # RQ's scheduler keeps whole seconds and may round down: a second more, so the
            # job never wakes before the row is due.
            get_queue().enqueue_in(
                timedelta(seconds=math.ceil(delay) + 1),
                DELIVER_JOB,
                delivery_pk,
                job_id=job_id,
                failure_ttl=settings.RQ_FAILED_JOB_TTL,
            )
        else:
            enqueue(DELIVER_JOB, delivery_pk, job_id=job_id, job_timeout=60)
    except (RedisError, OSError) as exc:
        logger.warning("Could not enqueue callback %s; the sweep will retry: %s", job_id, exc)
        return False
    return True


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: base, 2 x base, 4 x base..."""
    base = settings.CALLBACK_RETRY_BASE_SECONDS
    return min(base * 2 ** (attempts - 1), settings.CALLBACK_RETRY_MAX_DELAY_SECONDS)


def callback_body(*, delivery: CallbackDelivery) -> bytes:
    """The status API's answer for the request, as it is now, with what happened. No
    distinct_ids unless the endpoint opted in, no download link unless it opted in."""
    request = delivery.request
    endpoint = delivery.endpoint
    results = privacy_request_status_results(
        request=request, absolute_base=email_site_url(request.site_url) + "/"
    )
    if not endpoint.include_download_link:
        results["result"] = ""
    if not endpoint.include_distinct_ids:
        results.pop("distinct_ids", None)
        results.pop("reached_distinct_ids", None)
    if not (endpoint.include_distinct_ids and endpoint.include_download_link):
        # Each item pairs a subject's ids with its package's link: both or nothing.
        results.pop("subject_results", None)
        results.pop("subject_results_pending", None)
    payload = {
        "status": "ok",
        "results": results,
        "type": f"privacy_request.{delivery.event}",
        "event": delivery.event,
        "occurred_at": delivery.occurred_at.isoformat(),
        "task_id": request.tracking_id,
        "kind": "retrieval" if request.kind == RequestKind.EXPORT else "deletion",
        "project_id": request.project_id,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def callback_delivery_attempt(*, delivery_pk: int) -> str:
    """One attempt, if the delivery is due and no other worker holds it; safe to run twice.
    Returns the delivery's status afterwards, or "skipped"."""
    now = timezone.now()
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    abandoned = Q(status=DeliveryStatus.SENDING, lease_until__lt=now, retry_until__gt=now)
    claimed = CallbackDelivery.objects.filter(due | abandoned, id=delivery_pk).update(
        status=DeliveryStatus.SENDING,
        lease_until=now + LEASE,
        attempts=F("attempts") + 1,
        last_attempt_at=now,
    )
    if claimed != 1:
        return "skipped"
    delivery = CallbackDelivery.objects.select_related("endpoint", "request").get(id=delivery_pk)
    body = callback_body(delivery=delivery)
    headers = signed_headers(
        secret=delivery.endpoint.secret, delivery_id=delivery.delivery_id, body=body
    )
    try:
        answer = callback_post(url=delivery.url, body=body, headers=headers)
    except UnsafeCallbackUrl as exc:
        return _record(delivery, status=DeliveryStatus.REFUSED, error=str(exc))
    except SEND_ERRORS as exc:
        return _failed(delivery, now=timezone.now(), code=None, error=_error_text(exc))
    if 200 <= answer.status < 300:
        return _record(delivery, status=DeliveryStatus.DELIVERED, code=answer.status)
    return _failed(
        delivery, now=timezone.now(), code=answer.status, error=f"Answered {answer.status}."
    )


def _error_text(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:500]


def _record(
    delivery: CallbackDelivery,
    *,
    status: str,
    code: int | None = None,
    error: str = "",
    next_attempt_at: datetime | None = None,
) -> str:
    CallbackDelivery.objects.filter(id=delivery.id, status=DeliveryStatus.SENDING).update(
        status=status,
        response_code=code,
        error=error,
        next_attempt_at=next_attempt_at,
        lease_until=None,
    )
    return status


def _failed(delivery: CallbackDelivery, *, now: datetime, code: int | None, error: str) -> str:
    next_at = now + timedelta(seconds=retry_delay(delivery.attempts))
    if next_at > delivery.retry_until:
        return _record(delivery, status=DeliveryStatus.FAILED, code=code, error=error)
    status = _record(
        delivery, status=DeliveryStatus.PENDING, code=code, error=error, next_attempt_at=next_at
    )
    callback_delivery_enqueue(
        delivery_pk=delivery.id, delay=(next_at - timezone.now()).total_seconds()
    )
    return status


def callback_delivery_resend(*, actor: Actor, delivery: CallbackDelivery) -> None:
    """ "Send again" from the settings page or the back office: the same delivery (same
    webhook-id, so a receiver that has it can drop it), due now, with a new 24 hours."""
    staff = actor.via == "staff" and actor.user is not None and actor.user.is_staff
    organization = delivery.endpoint.organization
    if not staff and (
        actor.user is None or not can_manage_members(user=actor.user, organization=organization)
    ):
        raise NotAllowed("Only owners and admins can send a callback again.")
    now = timezone.now()
    with transaction.atomic():
        CallbackDelivery.objects.filter(id=delivery.id).exclude(
            status=DeliveryStatus.SENDING
        ).update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            retry_until=now + timedelta(seconds=settings.CALLBACK_RETRY_WINDOW_SECONDS),
            error="",
            lease_until=None,
        )
        pk = delivery.id
        transaction.on_commit(lambda: callback_delivery_enqueue(delivery_pk=pk))


def callback_deliveries_requeue(*, now: datetime) -> tuple[int, int]:
    """The sweep's part: deliveries due for a while that no job sent (Redis was down, a
    worker died mid-attempt). Returns (enqueued, failed to enqueue)."""
    CallbackDelivery.objects.filter(
        status=DeliveryStatus.SENDING, lease_until__lt=now, retry_until__lte=now
    ).update(
        status=DeliveryStatus.FAILED,
        lease_until=None,
        next_attempt_at=None,
        error="Gave up: the last attempt never finished (its worker stopped).",
    )
    stale = now - SWEEP_GRACE
    due = CallbackDelivery.objects.filter(
        Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=stale)
        | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    ).values_list("id", flat=True)
    enqueued = failed = 0
    for pk in due[:1000]:
        if callback_delivery_enqueue(delivery_pk=pk):
            enqueued += 1
        else:
            failed += 1
    return enqueued, failed


def overdue_events_emit(*, now: datetime) -> int:
    """The `overdue` event, once per request that passed its due date unfinished (the sweep
    calls it; deadlines.overdue_q is the rule). A claim by conditional UPDATE first, so two
    sweeps never both emit. Returns how many deliveries that recorded."""
    emitted = 0
    overdue = PrivacyRequest.objects.filter(overdue_q(now), overdue_event_at__isnull=True)
    for request in overdue.only(
        "id", "organization_id", "project_id", "callback_url", "callback_endpoint_id"
    ).iterator(chunk_size=100):
        with transaction.atomic():
            claimed = PrivacyRequest.objects.filter(
                overdue_q(now), id=request.id, overdue_event_at__isnull=True
            ).update(overdue_event_at=now)
            if claimed == 1:
                emitted += callback_event_emit(request=request, event=CallbackEvent.OVERDUE)
    return emitted
