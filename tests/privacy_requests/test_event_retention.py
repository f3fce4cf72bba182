"""Event retention (issue 20): the sweep removes the events a project keeps no longer, in
bounded batches, resumes after a crash, and audits each run with counts, never ids."""

import json
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from accounts.actors import SYSTEM
from privacy_requests.errors import InvalidRequest
from privacy_requests.models import AuditAction, AuditEntry
from privacy_requests.retention import services as retention
from privacy_requests.retention.models import RetentionRun
from privacy_requests.retention.services import keep_events_months_set, retention_sweep
from privacy_requests.services.sweep import privacy_sweep
from projects.models import Event
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
CUTOFF = datetime(2025, 12, 3, tzinfo=UTC)  # 12 months before NOW's day
TICK = timedelta(microseconds=1)


@pytest.fixture
def add_events(project):
    counter = iter(range(1_000_000))

    def add(distinct_id, *times, target=None):
        Event.objects.bulk_create(
            Event(
                project=target or project,
                distinct_id=distinct_id,
                name="Page View",
                time=time,
                insert_id=f"i{next(counter)}",
                ingested_at=NOW,
            )
            for time in times
        )

    return add


def remaining(project) -> list[tuple[str, datetime]]:
    return list(
        Event.objects.filter(project=project)
        .order_by("distinct_id", "time")
        .values_list("distinct_id", "time")
    )


def retention_entries(organization) -> list[dict]:
    return list(
        AuditEntry.objects.filter(
            organization=organization, action=AuditAction.EXPIRED_EVENTS_REMOVED
        )
        .order_by("seq")
        .values_list("detail", flat=True)
    )


def keep(project, months):
    keep_events_months_set(project=project, actor=SYSTEM, months=months)


def test_the_sweep_removes_only_the_expired_events_of_the_project_that_keeps_them(
    project, add_events
):
    other = ProjectFactory(organization=project.organization)
    keep(project, 12)
    add_events("alice", CUTOFF - timedelta(days=300), CUTOFF - TICK, CUTOFF, NOW)
    add_events("bob", CUTOFF - timedelta(days=1))
    add_events("carol", CUTOFF + TICK)
    add_events("alice", CUTOFF - timedelta(days=300), CUTOFF - TICK, target=other)

    report = privacy_sweep(now=NOW)

    assert report.expired_events == 3
    assert "removed 3 events past their project's retention" in report.as_text()
    assert remaining(project) == [("alice", CUTOFF), ("alice", NOW), ("carol", CUTOFF + TICK)]
    assert remaining(other) == [("alice", CUTOFF - timedelta(days=300)), ("alice", CUTOFF - TICK)]


def test_a_run_is_audited_once_with_counts_and_no_ids(project, add_events):
    keep(project, 12)
    add_events("alice@example.com", CUTOFF - timedelta(days=40), CUTOFF - timedelta(days=2))
    add_events("device-1234", CUTOFF - timedelta(days=5), NOW)

    privacy_sweep(now=NOW)
    privacy_sweep(now=NOW + timedelta(minutes=1))

    entries = AuditEntry.objects.filter(action=AuditAction.EXPIRED_EVENTS_REMOVED)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.actor == SYSTEM.text
    assert entry.request is None
    assert entry.detail == {
        "project": project.id,
        "keep_events_months": 12,
        "cutoff": "2025-12-03T00:00:00+00:00",
        "events_removed": 3,
        "batches": 1,
        "stopped": False,
    }
    as_text = json.dumps(entry.detail)
    assert "alice" not in as_text and "device" not in as_text
    run = RetentionRun.objects.get(project=project)
    assert (run.finished_at, run.events_removed, run.resume_after) == (NOW, 3, "")


def test_it_runs_once_a_day_and_a_run_that_removes_nothing_is_not_audited(project, add_events):
    keep(project, 12)
    add_events("alice", CUTOFF + timedelta(hours=5))

    privacy_sweep(now=NOW)
    privacy_sweep(now=NOW + timedelta(hours=2))
    assert RetentionRun.objects.filter(project=project).count() == 1
    assert remaining(project) == [("alice", CUTOFF + timedelta(hours=5))]

    privacy_sweep(now=NOW + timedelta(days=1))

    runs = RetentionRun.objects.filter(project=project).order_by("started_at")
    assert [(run.cutoff, run.events_removed) for run in runs] == [
        (CUTOFF, 0),
        (CUTOFF + timedelta(days=1), 1),
    ]
    assert remaining(project) == []
    assert [entry["events_removed"] for entry in retention_entries(project.organization)] == [1]


def test_runs_finished_more_than_90_days_ago_go_when_the_next_starts(project, add_events):
    keep(project, 12)
    privacy_sweep(now=NOW - timedelta(days=91))
    privacy_sweep(now=NOW - timedelta(days=89))

    privacy_sweep(now=NOW)

    runs = RetentionRun.objects.filter(project=project).order_by("started_at")
    assert [run.started_at for run in runs] == [NOW - timedelta(days=89), NOW]


def test_projects_without_the_setting_keep_every_event(project, add_events):
    add_events("alice", datetime(2010, 1, 1, tzinfo=UTC))

    privacy_sweep(now=NOW)

    assert remaining(project) == [("alice", datetime(2010, 1, 1, tzinfo=UTC))]
    assert not RetentionRun.objects.exists()
    assert retention_entries(project.organization) == []


def test_batches_are_bounded_and_a_crash_resumes_where_it_stopped(project, add_events, settings):
    settings.PRIVACY_RETENTION_WALK_IDS = 2
    settings.PRIVACY_DELETION_BATCH = 3
    keep(project, 12)
    for number in range(7):
        add_events(f"user-{number}", CUTOFF - timedelta(days=3), CUTOFF - TICK, CUTOFF)
    real = retention.expired_events_delete_batch
    removed_by_batch = []

    def crashing_after_three(**kwargs):
        if len(removed_by_batch) == 3:
            raise RuntimeError("the worker died")
        batch = real(**kwargs)
        removed_by_batch.append(batch.removed)
        return batch

    with mock.patch.object(retention, "expired_events_delete_batch", crashing_after_three):
        with pytest.raises(RuntimeError):
            retention_sweep(now=NOW)

    assert all(removed <= 3 for removed in removed_by_batch)
    assert sum(removed_by_batch) == 14 - Event.objects.filter(time__lt=CUTOFF).count()
    run = RetentionRun.objects.get(project=project)
    assert run.finished_at is None and run.batches == 3
    assert run.events_removed == sum(removed_by_batch)
    assert retention_entries(project.organization) == []

    report = retention_sweep(now=NOW + timedelta(seconds=30))

    assert remaining(project) == [(f"user-{number}", CUTOFF) for number in range(7)]
    run.refresh_from_db()
    assert run.finished_at == NOW + timedelta(seconds=30)
    assert run.events_removed == 14
    assert report.events_removed == 14 - sum(removed_by_batch)
    [entry] = retention_entries(project.organization)
    assert entry["events_removed"] == 14 and entry["batches"] == run.batches


@pytest.mark.parametrize(
    "change, months",
    [("turned off", None), ("lengthened", 24)],
)
def test_a_run_stops_when_the_setting_is_turned_off_or_lengthened(
    project, add_events, settings, change, months
):
    settings.PRIVACY_RETENTION_WALK_IDS = 1
    keep(project, 12)
    add_events("alice", CUTOFF - timedelta(days=2))
    add_events("bob", CUTOFF - timedelta(days=2))
    # The first batch of the day's run, as a sweep whose time ran out after it leaves it.
    run = retention._run_for(project_id=project.id, now=NOW)
    retention._batch(run_id=run.pk, now=NOW, actor=SYSTEM, report=retention.RetentionReport())
    assert remaining(project) == [("bob", CUTOFF - timedelta(days=2))]

    keep(project, months)
    retention_sweep(now=NOW)
    retention_sweep(now=NOW + timedelta(minutes=1))

    assert remaining(project) == [("bob", CUTOFF - timedelta(days=2))]
    run.refresh_from_db()
    assert run.stopped is True and run.finished_at == NOW and run.resume_after == ""
    assert RetentionRun.objects.filter(finished_at__isnull=True).count() == 0
    [entry] = retention_entries(project.organization)
    assert (entry["events_removed"], entry["stopped"]) == (1, True)


def test_changing_the_setting_is_audited_and_refuses_out_of_range_values(project):
    assert keep_events_months_set(project=project, actor=SYSTEM, months=13) is True
    assert keep_events_months_set(project=project, actor=SYSTEM, months=13) is False
    assert keep_events_months_set(project=project, actor=SYSTEM, months=None) is True
    for bad in (0, 121):
        with pytest.raises(InvalidRequest, match="from 1 to 120, or empty"):
            keep_events_months_set(project=project, actor=SYSTEM, months=bad)

    project.refresh_from_db()
    assert project.keep_events_months is None
    changes = AuditEntry.objects.filter(action=AuditAction.EVENT_RETENTION_CHANGED).order_by("seq")
    assert [entry.detail for entry in changes] == [
        {"project": project.id, "from": None, "to": 13},
        {"project": project.id, "from": 13, "to": None},
    ]


def test_a_sweep_with_no_time_left_for_retention_leaves_it_to_the_next(project, add_events):
    keep(project, 12)
    add_events("alice", CUTOFF - timedelta(days=1))

    short = privacy_sweep(now=NOW, retention_seconds=0)
    assert (short.expired_events, RetentionRun.objects.count()) == (0, 0)

    assert privacy_sweep(now=NOW).expired_events == 1
    assert remaining(project) == []
