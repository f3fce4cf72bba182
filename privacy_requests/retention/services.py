"""A project's event retention: the setting (owners and admins, audited) and the sweep's runs.

Once a day per project (the cutoff is a whole day: projects.retention.retention_cutoff) a run
walks the project's distinct_ids and removes their events from before the cutoff, batch by
batch: each batch is one transaction that deletes at most PRIVACY_DELETION_BATCH events and
moves the run's position, so a crash loses nothing and the next sweep goes on from there.
Each sweep gives retention PRIVACY_RETENTION_SECONDS at most; a long run spans sweeps. A run
that removed something writes one audit entry to the organization's chain when it finishes:
the project, the cutoff and the counts, never a distinct_id.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.actors import SYSTEM, Actor
from privacy_requests.audit import audit_append
from privacy_requests.errors import InvalidRequest
from privacy_requests.models import AuditAction
from privacy_requests.permissions import actor_require
from privacy_requests.retention.models import RetentionRun
from projects.models import Project
from projects.retention import (
    KEEP_EVENTS_MONTHS_MAX,
    expired_events_delete_batch,
    retention_cutoff,
)


def keep_events_months_set(*, project: Project, actor: Actor, months: int | None) -> bool:
    """Keeps the project's events for `months` calendar months (None: until deleted); True when
    it changed (audited), False when it already was `months`."""
    actor_require(actor=actor, project=project)
    if months is not None and not 1 <= months <= KEEP_EVENTS_MONTHS_MAX:
        raise InvalidRequest(
            f"keep_events_months must be from 1 to {KEEP_EVENTS_MONTHS_MAX}, or empty.",
            field="keep_events_months",
        )
    with transaction.atomic():
        # The lock a retention batch takes: a batch in flight finishes under the old setting.
        locked = (
            Project.objects.select_for_update(no_key=True)
            .only("keep_events_months")
            .get(pk=project.pk)
        )
        previous = locked.keep_events_months
        if previous != months:
            Project.objects.filter(pk=project.pk).update(keep_events_months=months)
            audit_append(
                organization_id=project.organization_id,
                actor=actor.text,
                action=AuditAction.EVENT_RETENTION_CHANGED,
                detail={"project": project.pk, "from": previous, "to": months},
            )
    project.keep_events_months = months
    return previous != months


@dataclass
class RetentionReport:
    events_removed: int = 0
    runs_finished: int = 0
    batches: int = 0


# Finished runs are kept this long for the settings page; the audit chain keeps what each
# removed for good.
RUNS_KEPT = timedelta(days=90)


def retention_sweep(
    *, now: datetime, actor: Actor = SYSTEM, seconds: float | None = None
) -> RetentionReport:
    """The sweep's part: goes on with each project's run, or starts the day's, until `seconds`
    (PRIVACY_RETENTION_SECONDS) are spent; the next sweep takes up where this one stopped."""
    report = RetentionReport()
    budget = settings.PRIVACY_RETENTION_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + budget
    open_runs = RetentionRun.objects.filter(finished_at__isnull=True).values_list(
        "project_id", flat=True
    )
    projects = Project.objects.filter(keep_events_months__isnull=False) | Project.objects.filter(
        id__in=open_runs
    )
    for project_id in projects.order_by("id").values_list("id", flat=True).distinct():
        if time.monotonic() >= deadline:
            break
        run = _run_for(project_id=project_id, now=now)
        while run is not None and time.monotonic() < deadline:
            run = _batch(run_id=run.pk, now=now, actor=actor, report=report)
            if run is not None and settings.PRIVACY_STEP_DELAY_SECONDS:
                time.sleep(settings.PRIVACY_STEP_DELAY_SECONDS)  # crash tests kill here
    return report


def _run_for(*, project_id: int, now: datetime) -> RetentionRun | None:
    """The project's open run, or the day's new one; None when today's is done."""
    run = RetentionRun.objects.filter(project_id=project_id, finished_at__isnull=True).first()
    if run is not None:
        return run
    months = Project.objects.values_list("keep_events_months", flat=True).get(id=project_id)
    if months is None:
        return None
    cutoff = retention_cutoff(now=now, months=months)
    done = RetentionRun.objects.filter(project_id=project_id, cutoff__gte=cutoff, stopped=False)
    if done.exists():
        return None  # today's (or a later cutoff's) run is done: nothing new has expired
    try:
        with transaction.atomic():
            RetentionRun.objects.filter(
                project_id=project_id, finished_at__lt=now - RUNS_KEPT
            ).delete()
            return RetentionRun.objects.create(
                project_id=project_id, keep_events_months=months, cutoff=cutoff, started_at=now
            )
    except IntegrityError:
        return None  # another sweep started it at this moment; it goes on with it


def _batch(
    *, run_id: int, now: datetime, actor: Actor, report: RetentionReport
) -> RetentionRun | None:
    """One batch of the run, in one transaction; the run again while it has more to do."""
    with transaction.atomic():
        run = (
            RetentionRun.objects.select_for_update(skip_locked=True)
            .filter(pk=run_id, finished_at__isnull=True)
            .first()
        )
        if run is None:
            return None  # finished, or another sweep holds it
        project = (
            Project.objects.select_for_update(no_key=True)
            .only("id", "organization_id", "keep_events_months")
            .get(pk=run.project_id)
        )
        months = project.keep_events_months
        if months is None or retention_cutoff(now=now, months=months) < run.cutoff:
            # Turned off, or lengthened: events the run would still remove are to be kept.
            _finish(run, project=project, now=now, actor=actor, stopped=True)
            report.runs_finished += 1
            return None
        batch = expired_events_delete_batch(
            project_id=project.pk,
            cutoff=run.cutoff,
            resume_after=run.resume_after or None,
            walk_ids=settings.PRIVACY_RETENTION_WALK_IDS,
            max_rows=settings.PRIVACY_DELETION_BATCH,
        )
        run.events_removed += batch.removed
        run.batches += 1
        run.resume_after = batch.resume_after or ""
        report.events_removed += batch.removed
        report.batches += 1
        if batch.finished:
            _finish(run, project=project, now=now, actor=actor, stopped=False)
            report.runs_finished += 1
            return None
        run.save(update_fields=["events_removed", "batches", "resume_after"])
    return run


def _finish(
    run: RetentionRun, *, project: Project, now: datetime, actor: Actor, stopped: bool
) -> None:
    run.finished_at = now
    run.stopped = stopped
    run.resume_after = ""
    run.save(update_fields=["events_removed", "batches", "resume_after", "finished_at", "stopped"])
    if run.events_removed:
        audit_append(
            organization_id=project.organization_id,
            actor=actor.text,
            action=AuditAction.EXPIRED_EVENTS_REMOVED,
            detail={
                "project": project.pk,
                "keep_events_months": run.keep_events_months,
                "cutoff": run.cutoff.isoformat(),
                "events_removed": run.events_removed,
                "batches": run.batches,
                "stopped": stopped,
            },
        )


def retention_last_run(*, project: Project) -> RetentionRun | None:
    """What the settings page tells owners: the run going on, else the last finished."""
    return RetentionRun.objects.filter(project=project).order_by("-started_at", "-id").first()
