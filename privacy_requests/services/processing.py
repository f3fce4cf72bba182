"""Processing a request: the entry point the RQ job calls.

PENDING → STAGING → STARTED → SUCCESS | FAILURE. A worker takes a request with a conditional
UPDATE and holds it by a lease that each processing step renews; a worker that dies loses the
lease, and the sweep hands the request to another worker, which resumes from the last saved step.
"""

import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from redis.exceptions import RedisError
from rq.timeouts import JobTimeoutException

from accounts.actors import SYSTEM
from privacy_requests.audit import audit_append
from privacy_requests.callbacks.deliveries import callback_event_emit
from privacy_requests.engine.registry import processor_for
from privacy_requests.engine.run import LeaseLost, Run, transition
from privacy_requests.exports.files import STORAGE_ERRORS
from privacy_requests.models import (
    ApprovalState,
    AuditAction,
    CallbackEvent,
    PrivacyRequest,
    Status,
    SubjectDecisionKind,
)
from privacy_requests.notifications import privacy_request_notify_finished
from privacy_requests.selectors import privacy_request_given_ids
from privacy_requests.services.queueing import subject_packages_enqueue
from privacy_requests.services.subject_rows import request_subjects_add
from projects.identity_resolution import identity_subject_resolve
from projects.models import Project
from projects.store import events_snapshot_now, ids_with_rows

logger = logging.getLogger(__name__)

# Errors worth trying again: the database, Redis or storage may be back in a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, RedisError, *STORAGE_ERRORS)


def privacy_request_process(*, tracking_id: str) -> str:
    """Moves the request as far as it can go now; returns its status. Safe to call twice."""
    request = PrivacyRequest.objects.filter(tracking_id=tracking_id).first()
    if request is None:
        logger.warning("No privacy request %s; dropping its job.", tracking_id)
        return "NOT_FOUND"
    _jit_off()
    if request.status == Status.PENDING:
        _stage(request)
        request.refresh_from_db()
    if request.status == Status.STAGING and request.not_before > timezone.now():
        return request.status  # in its grace period: the sweep comes back after not_before
    run = _claim(request)
    if run is None:
        return PrivacyRequest.objects.values_list("status", flat=True).get(id=request.id)
    return _execute(run)


def _jit_off() -> None:
    """PostgreSQL's JIT compiles a statement's expressions once its estimated cost passes
    jit_above_cost. The statements of a request over a chunk of ids (an IN list of 500) are
    estimated at some 80 times the rows they touch, so each paid 15-30 ms of compiling for
    work of about as long; off for this session, which runs little else."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")


def _stage(request: PrivacyRequest) -> None:
    with transaction.atomic():
        if transition(request.id, condition=Q(status=Status.PENDING), status=Status.STAGING):
            audit_append(
                organization_id=request.organization_id,
                actor=SYSTEM.text,
                action=AuditAction.STAGED,
                request=request,
                detail={"not_before": request.not_before.isoformat()},
            )


def _claim(request: PrivacyRequest) -> Run | None:
    """Takes the request for this worker: a fresh start from STAGING, or a takeover of a
    STARTED request whose lease ran out. Exactly one of several racing workers wins."""
    now = timezone.now()
    owner = secrets.token_hex(8)
    lease = {
        "status": Status.STARTED,
        "lease_owner": owner,
        "lease_until": now + timedelta(seconds=settings.PRIVACY_LEASE_SECONDS),
        "runs": F("runs") + 1,
        "started_at": Coalesce(F("started_at"), now),
    }
    with transaction.atomic():
        # A deletion awaiting its four-eyes approval is never taken (services/approval.py).
        fresh = Q(status=Status.STAGING, not_before__lte=now) & ~Q(
            approval_state=ApprovalState.AWAITING
        )
        if transition(request.id, condition=fresh, **lease):
            resumed = False
        elif transition(
            request.id, condition=Q(status=Status.STARTED, lease_until__lt=now), **lease
        ):
            resumed = True
        else:
            return None
        request.refresh_from_db()
        if request.snapshot_at is None:
            _record_subject_set(request)
        detail = {
            "run": request.runs,
            "snapshot_at": request.snapshot_at.isoformat() if request.snapshot_at else None,
            "subjects": request.subjects.count(),
        }
        included = request.subjects.filter(included=True).count()
        if included:
            # Ids a person included (refused or unverified links): never linked automatically.
            detail["included"] = included
        audit_append(
            organization_id=request.organization_id,
            actor=SYSTEM.text,
            action=AuditAction.RESUMED if resumed else AuditAction.STARTED,
            request=request,
            detail=detail,
        )
        if not resumed:
            callback_event_emit(request=request, event=CallbackEvent.STARTED)
    subjects = list(request.subjects.order_by("position").values_list("distinct_id", "linked"))
    return Run(
        request=request,
        owner=owner,
        given_ids=[distinct_id for distinct_id, linked in subjects if not linked],
        subject_ids=[distinct_id for distinct_id, _ in subjects],
        resumed=resumed,
        progress=request.progress or {},
    )


def _record_subject_set(request: PrivacyRequest) -> None:
    """At the first start: the snapshot bound, the subject set (the given ids, the ids the
    project's rule links to them, less the linked ids a person left out, plus the refused or
    unverified ids a person included: projects.identity_resolution), and the given ids that
    have no data at all (not_found)."""
    snapshot = events_snapshot_now()
    given = privacy_request_given_ids(request=request)
    decisions = dict(request.decisions.values_list("distinct_id", "decision"))
    resolution = identity_subject_resolve(
        project=Project.objects.get(pk=request.project_id),
        distinct_ids=given,
        left_out=[
            i for i, decision in decisions.items() if decision == SubjectDecisionKind.LEFT_OUT
        ],
        included=[
            i for i, decision in decisions.items() if decision == SubjectDecisionKind.INCLUDED
        ],
    )
    rest = [(distinct_id, False) for distinct_id in resolution.linked]
    rest += [(distinct_id, True) for distinct_id in resolution.included]
    request_subjects_add(
        request_id=request.id,
        distinct_ids=[distinct_id for distinct_id, _ in rest],
        start=len(given),
        linked=True,
        included=[included for _, included in rest],
    )
    lonely = [distinct_id for distinct_id in given if distinct_id not in resolution.clustered]
    with_rows = ids_with_rows(
        project_id=request.project_id, distinct_ids=lonely, snapshot_at=snapshot
    )
    not_found = [distinct_id for distinct_id in lonely if distinct_id not in with_rows]
    PrivacyRequest.objects.filter(id=request.id).update(snapshot_at=snapshot, not_found=not_found)
    request.snapshot_at = snapshot
    request.not_found = not_found


def _execute(run: Run) -> str:
    backoff = list(settings.PRIVACY_RETRY_BACKOFF)
    for attempt in range(len(backoff) + 1):
        try:
            if attempt:
                # In the try: the database may still be away (a restart), which is one more
                # transient error, not a crash of the job.
                run.request.refresh_from_db()
                run.progress = run.request.progress or {}
            counts = processor_for(run.request)(run)
            return _finish(run, status=Status.SUCCESS, counts=counts)
        except LeaseLost:
            logger.warning(
                "Lost the lease of %s to another worker; stopping.", run.request.tracking_id
            )
            return Status.STARTED
        except JobTimeoutException:
            return _finish(
                run,
                status=Status.FAILURE,
                error=(
                    f"Processing took longer than the {settings.PRIVACY_JOB_TIMEOUT} s job timeout."
                ),
            )
        except TRANSIENT_ERRORS as exc:
            if attempt == len(backoff):
                return _finish(
                    run,
                    status=Status.FAILURE,
                    error=(f"Gave up after {attempt + 1} tries: {error_text(exc)}"),
                )
            logger.warning(
                "Transient error on %s (try %d), retrying in %ss: %s",
                run.request.tracking_id,
                attempt + 1,
                backoff[attempt],
                error_text(exc),
            )
            if not connection.in_atomic_block:  # a broken connection is replaced on next use
                close_old_connections()
            time.sleep(backoff[attempt])
        except Exception as exc:  # noqa: BLE001 - recorded as FAILURE with its reason, and logged
            logger.exception("Processing %s failed", run.request.tracking_id)
            return _finish(run, status=Status.FAILURE, error=error_text(exc))
    raise AssertionError("unreachable")  # pragma: no cover


def error_text(exc: BaseException) -> str:
    """A readable one-line reason; database messages stop at the first line, where drivers
    put the reason (later lines may quote row values)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:500] if message else type(exc).__name__


def _finish(run: Run, *, status: Status, counts: dict | None = None, error: str = "") -> str:
    now = timezone.now()
    changes: dict[str, object] = {
        "status": status,
        "finished_at": now,
        "lease_until": None,
        "error": error,
    }
    if counts is not None:
        changes["counts"] = counts
        changes["progress"] = {**run.progress, "done": run.progress.get("total", 0)}
    with transaction.atomic():
        if not transition(
            run.request.id, condition=Q(status=Status.STARTED, lease_owner=run.owner), **changes
        ):
            logger.warning("Lost the lease of %s before finishing.", run.request.tracking_id)
            return Status.STARTED
        detail: dict[str, object] = {"counts": counts} if counts is not None else {"error": error}
        if status == Status.SUCCESS:
            detail["not_found"] = len(run.request.not_found)
        audit_append(
            organization_id=run.request.organization_id,
            actor=SYSTEM.text,
            action=AuditAction.SUCCEEDED if status == Status.SUCCESS else AuditAction.FAILED,
            request=run.request,
            detail=detail,
        )
        callback_event_emit(
            request=run.request,
            event=CallbackEvent.SUCCEEDED if status == Status.SUCCESS else CallbackEvent.FAILED,
        )
        tracking_id = run.request.tracking_id
        if status == Status.SUCCESS and run.request.subject_packages_pending:
            transaction.on_commit(
                lambda: subject_packages_enqueue(tracking_id=tracking_id), robust=True
            )
        # robust: an email that cannot be sent never changes how the request ended.
        transaction.on_commit(
            lambda: privacy_request_notify_finished(tracking_id=tracking_id), robust=True
        )
    return status
