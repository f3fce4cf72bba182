"""Event retention end to end (issue 20): a real rqworker runs the self-booked sweep on
PostgreSQL, which removes a project's expired events in bounded batches and audits the run,
while newer events and another project's old ones stay."""

from datetime import timedelta

import pytest
from django.db import OperationalError, transaction
from django.utils import timezone

from accounts.actors import SYSTEM
from privacy_requests.models import AuditAction, AuditEntry
from privacy_requests.retention.models import RetentionRun
from privacy_requests.retention.services import keep_events_months_set
from projects.models import Event
from projects.retention import retention_cutoff
from tests.e2e.conftest import poll_until, without_checkpoint
from tests.factories import ProjectFactory

pytestmark = pytest.mark.e2e

SUBJECTS = 300


def _store(project, cutoff) -> set[tuple[str, str]]:
    """Three expired events a subject, one exactly at the cutoff and one newer; returns the
    (distinct_id, insert_id) of those that must stay."""
    events, kept = [], set()
    for number in range(SUBJECTS):
        distinct_id = f"user-{number:04d}"
        times = [
            cutoff - timedelta(days=400),
            cutoff - timedelta(days=40, minutes=number),
            cutoff - timedelta(microseconds=1),
            cutoff,
            cutoff + timedelta(days=10),
        ]
        for index, time in enumerate(times):
            insert_id = f"{number}-{index}"
            events.append(
                Event(
                    project=project,
                    distinct_id=distinct_id,
                    name="Page View",
                    time=time,
                    insert_id=insert_id,
                    ingested_at=timezone.now(),
                )
            )
            if time >= cutoff:
                kept.add((distinct_id, insert_id))
    Event.objects.bulk_create(events, batch_size=1000)
    return kept


def _run_free(run_id: int) -> bool:
    try:
        with transaction.atomic():
            RetentionRun.objects.select_for_update(nowait=True).get(pk=run_id)
    except OperationalError:
        return False
    return True


def _events_of(project) -> set[tuple[str, str]]:
    return set(Event.objects.filter(project=project).values_list("distinct_id", "insert_id"))


def test_the_workers_sweep_removes_expired_events_in_batches(site_env, spawn):
    cutoff = retention_cutoff(now=timezone.now(), months=12)
    project = ProjectFactory()
    other = ProjectFactory(organization=project.organization)
    kept = _store(project, cutoff)
    _store(other, cutoff)
    others_before = _events_of(other)
    keep_events_months_set(project=project, actor=SYSTEM, months=12)

    # A sweep every second; 50 ids walked and at most 100 events deleted a batch: the 300
    # subjects' 900 expired events go in 12 batches of 25 subjects (75 events) each.
    env = {
        **site_env,
        "PRIVACY_SWEEP_INTERVAL": "1",
        "PRIVACY_RETENTION_WALK_IDS": "50",
        "PRIVACY_DELETION_BATCH": "100",
    }
    worker = spawn("rqworker", "default", env=env)
    run = poll_until(
        lambda: RetentionRun.objects.filter(project=project, finished_at__isnull=False).first(),
        timeout=60,
        message=lambda: f"no retention run finished:\n{worker.output()}",
    )

    assert (run.events_removed, run.batches, run.cutoff) == (900, 12, cutoff)
    assert _events_of(project) == kept
    assert _events_of(other) == others_before
    [entry] = AuditEntry.objects.filter(action=AuditAction.EXPIRED_EVENTS_REMOVED)
    assert entry.organization_id == project.organization_id
    assert entry.detail == {
        "project": project.id,
        "keep_events_months": 12,
        "cutoff": cutoff.isoformat(),
        "events_removed": 900,
        "batches": 12,
        "stopped": False,
    }


def test_a_worker_killed_mid_run_loses_nothing_and_the_sweep_finishes_exactly(site_env, spawn):
    cutoff = retention_cutoff(now=timezone.now(), months=12)
    project = ProjectFactory()
    kept = _store(project, cutoff)
    keep_events_months_set(project=project, actor=SYSTEM, months=12)
    env = {
        **site_env,
        "PRIVACY_SWEEP_INTERVAL": "1",
        "PRIVACY_RETENTION_WALK_IDS": "50",
        "PRIVACY_DELETION_BATCH": "100",
        "PRIVACY_STEP_DELAY_SECONDS": "0.3",
    }
    worker = spawn("rqworker", "default", env=env)
    poll_until(
        lambda: RetentionRun.objects.filter(project=project, batches__gte=3).exists(),
        timeout=60,
        interval=0.02,
        message=lambda: f"no retention run got 3 batches far:\n{worker.output()}",
    )
    worker.kill()  # SIGKILL: the worker and its work-horse, between batches or inside one

    crashed = RetentionRun.objects.get(project=project)
    left = Event.objects.filter(project=project).count()
    assert crashed.finished_at is None
    # What the run counts is exactly what is gone: no batch half-counted.
    assert crashed.events_removed == 5 * SUBJECTS - left
    assert 0 < crashed.events_removed < 900
    assert not AuditEntry.objects.filter(action=AuditAction.EXPIRED_EVENTS_REMOVED).exists()

    # A batch the kill cut short is rolled back once the server sees its client gone; until then
    # it holds the run's row, which a sweep would skip.
    poll_until(
        lambda: _run_free(crashed.pk), timeout=30, message="the killed batch still holds the run"
    )
    sweep = spawn("privacy_sweep", env={**env, "PRIVACY_STEP_DELAY_SECONDS": "0"})
    assert sweep.wait(timeout=60) == 0, sweep.output()
    line = without_checkpoint(sweep.wait_for_line(r"^Sweep: .*$", timeout=1).group(0))

    assert line.endswith(
        f", removed {900 - crashed.events_removed} events past their project's retention"
    )
    run = RetentionRun.objects.get(project=project)
    assert (run.finished_at is not None, run.events_removed, run.batches) == (True, 900, 12)
    assert _events_of(project) == kept
    [entry] = AuditEntry.objects.filter(action=AuditAction.EXPIRED_EVENTS_REMOVED)
    assert (entry.detail["events_removed"], entry.detail["batches"]) == (900, 12)
