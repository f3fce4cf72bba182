"""The sweep (DESIGN section 4): whatever the queue lost, the database still knows.

It enqueues PENDING requests that have no live job, STAGING requests past their grace period and
STARTED requests whose lease ran out (their worker died), and pseudonymizes the subjects of
requests final for 30 days, and removes the events that projects keep no longer (event retention,
privacy_requests/retention). Losing Redis or a worker therefore loses no request. It also purges
what has outlived its use: export files, deletion previews, Idempotency-Keys, old counters of
refused records. Once a day it writes the audit chains' heads to private storage
(services/audit_checkpoints.py).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.actors import SYSTEM, Actor
from privacy_requests.audit import audit_append
from privacy_requests.callbacks.deliveries import (
    callback_deliveries_requeue,
    overdue_events_emit,
)
from privacy_requests.exports.files import STORAGE_ERRORS, export_files_purge_expired
from privacy_requests.models import (
    FINAL_STATUSES,
    ApprovalState,
    AuditAction,
    PrivacyRequest,
    RequestSubject,
    Status,
    SubjectDecision,
)
from privacy_requests.notifications import privacy_due_reminders_send
from privacy_requests.retention.services import retention_sweep
from privacy_requests.services.approval import approvals_expire
from privacy_requests.services.audit_checkpoints import audit_checkpoint_write
from privacy_requests.services.drafts import request_drafts_purge_expired
from privacy_requests.services.idempotency import idempotency_keys_purge_expired
from privacy_requests.services.queueing import (
    job_is_live,
    privacy_request_enqueue,
    subject_packages_enqueue,
    subject_packages_job_id,
)
from projects.ingestion.refusals import refusal_counts_purge
from projects.pii import distinct_id_hmac

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    enqueued: int = 0
    enqueue_failed: int = 0
    pseudonymized_requests: int = 0
    purged_exports: int = 0
    due_reminders: int = 0
    purged_drafts: int = 0
    purged_idempotency_keys: int = 0
    purged_refusal_counts: int = 0
    audit_checkpoint: str | None = None
    callbacks_enqueued: int = 0
    callbacks_enqueue_failed: int = 0
    overdue_events: int = 0
    expired_approvals: int = 0
    expired_events: int = 0

    def as_text(self) -> str:
        text = (
            f"enqueued {self.enqueued}, enqueue failed {self.enqueue_failed}, "
            f"pseudonymized {self.pseudonymized_requests} requests"
        )
        if self.purged_exports:
            text += f", purged {self.purged_exports} expired export files"
        if self.due_reminders:
            text += f", sent {self.due_reminders} due date reminders"
        if self.purged_drafts:
            text += f", purged {self.purged_drafts} expired request previews"
        if self.purged_idempotency_keys:
            text += f", purged {self.purged_idempotency_keys} expired Idempotency-Keys"
        if self.purged_refusal_counts:
            text += f", purged {self.purged_refusal_counts} old counters of refused records"
        if self.overdue_events:
            text += f", recorded {self.overdue_events} overdue callback events"
        if self.callbacks_enqueued or self.callbacks_enqueue_failed:
            text += (
                f", enqueued {self.callbacks_enqueued} callbacks again"
                f" ({self.callbacks_enqueue_failed} failed)"
            )
        if self.expired_approvals:
            text += f", expired {self.expired_approvals} deletions awaiting approval"
        if self.expired_events:
            text += f", removed {self.expired_events} events past their project's retention"
        if self.audit_checkpoint:
            text += f", wrote the audit checkpoint {self.audit_checkpoint}"
        return text


def privacy_sweep(
    *, now: datetime | None = None, actor: Actor = SYSTEM, retention_seconds: float | None = None
) -> SweepReport:
    """`actor` is who ran it (the system, or staff from the back office); the audit entries
    the sweep writes name them. `retention_seconds` bounds event retention's share (default
    PRIVACY_RETENTION_SECONDS): a sweep run from a web page keeps it short."""
    now = now or timezone.now()
    report = SweepReport()
    report.expired_approvals = approvals_expire(now=now)
    _requeue(report, now=now)
    report.pseudonymized_requests = _pseudonymize(now=now, actor=actor)
    report.purged_exports = export_files_purge_expired(now=now)
    report.due_reminders = privacy_due_reminders_send(now=now)
    report.purged_drafts = request_drafts_purge_expired(now=now)
    report.purged_idempotency_keys = idempotency_keys_purge_expired(now=now)
    report.purged_refusal_counts = refusal_counts_purge(now=now)
    report.overdue_events = overdue_events_emit(now=now)
    report.callbacks_enqueued, report.callbacks_enqueue_failed = callback_deliveries_requeue(
        now=now
    )
    report.expired_events = retention_sweep(
        now=now, actor=actor, seconds=retention_seconds
    ).events_removed
    report.audit_checkpoint = _checkpoint(now=now)
    return report


def _checkpoint(*, now: datetime) -> str | None:
    try:
        return audit_checkpoint_write(now=now)
    except STORAGE_ERRORS:
        logger.warning(
            "Could not write the audit checkpoint; the next sweep retries.", exc_info=True
        )
        return None


def _requeue(report: SweepReport, *, now: datetime) -> None:
    waiting = PrivacyRequest.objects.filter(status=Status.PENDING).values_list(
        "tracking_id", flat=True
    )
    staged = PrivacyRequest.objects.filter(status=Status.STAGING, not_before__lte=now).exclude(
        approval_state=ApprovalState.AWAITING
    )
    orphaned = PrivacyRequest.objects.filter(status=Status.STARTED, lease_until__lt=now)
    for tracking_id in list(waiting) + list(staged.values_list("tracking_id", flat=True)):
        try:
            if job_is_live(tracking_id):
                continue
        except RedisError as exc:
            logger.warning("Sweep cannot reach Redis: %s", exc)
            report.enqueue_failed += 1
            continue
        _count(report, privacy_request_enqueue(tracking_id=tracking_id, replace=True))
    for tracking_id in orphaned.values_list("tracking_id", flat=True):
        # RQ may still list the dead worker's job as started: replace it.
        _count(report, privacy_request_enqueue(tracking_id=tracking_id, replace=True))
    # Exports whose per-subject packages were never stored (the build's worker died, or
    # Redis lost its job): built again, from the start.
    unbuilt = PrivacyRequest.objects.filter(
        status=Status.SUCCESS,
        subject_packages_pending=True,
        result_purged_at__isnull=True,
        finished_at__lt=now - timedelta(seconds=settings.PRIVACY_SWEEP_INTERVAL),
    )
    for tracking_id in unbuilt.values_list("tracking_id", flat=True):
        try:
            if job_is_live(tracking_id, job_id=subject_packages_job_id(tracking_id)):
                continue
        except RedisError as exc:
            logger.warning("Sweep cannot reach Redis: %s", exc)
            report.enqueue_failed += 1
            continue
        _count(report, subject_packages_enqueue(tracking_id=tracking_id, replace=True))


def _count(report: SweepReport, enqueued: bool) -> None:
    if enqueued:
        report.enqueued += 1
    else:
        report.enqueue_failed += 1


def _pseudonymize(*, now: datetime, actor: Actor = SYSTEM) -> int:
    """Raw distinct_ids are kept only while needed: 30 days after a request is final, its
    subjects become HMAC(PRIVACY_PII_KEY, project ‖ id)."""
    cutoff = now - timedelta(days=settings.PRIVACY_PSEUDONYMIZE_AFTER_DAYS)
    due = PrivacyRequest.objects.filter(
        status__in=FINAL_STATUSES, finished_at__lt=cutoff, subjects_pseudonymized_at__isnull=True
    ).only("id", "project_id", "organization_id", "tracking_id")
    done = 0
    for request in due.iterator(chunk_size=100):
        with transaction.atomic():
            subjects = list(RequestSubject.objects.select_for_update().filter(request=request))
            for subject in subjects:
                subject.distinct_id = distinct_id_hmac(
                    project_id=request.project_id, distinct_id=subject.distinct_id
                )
            RequestSubject.objects.bulk_update(subjects, ["distinct_id"], batch_size=1000)
            decisions = list(SubjectDecision.objects.select_for_update().filter(request=request))
            for decision in decisions:
                decision.distinct_id = distinct_id_hmac(
                    project_id=request.project_id, distinct_id=decision.distinct_id
                )
            SubjectDecision.objects.bulk_update(decisions, ["distinct_id"], batch_size=1000)
            not_found = [
                distinct_id_hmac(project_id=request.project_id, distinct_id=distinct_id)
                for distinct_id in PrivacyRequest.objects.values_list("not_found", flat=True).get(
                    id=request.id
                )
            ]
            PrivacyRequest.objects.filter(id=request.id).update(
                subjects_pseudonymized_at=now, not_found=not_found
            )
            audit_append(
                organization_id=request.organization_id,
                actor=actor.text,
                action=AuditAction.PSEUDONYMIZED,
                request=request,
                detail={"subjects": len(subjects)},
            )
        done += 1
    return done
