"""The store side of event retention: the cutoff's calendar arithmetic, and batches that never
delete more than their cap, nor a newer event, nor another project's."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from projects.models import Event
from projects.retention import expired_events_delete_batch, retention_cutoff
from tests.factories import ProjectFactory

CUTOFF = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "now, months, cutoff",
    [
        (datetime(2026, 12, 3, 10, 30, tzinfo=UTC), 12, datetime(2025, 12, 3, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 1, datetime(2025, 12, 15, tzinfo=UTC)),
        (datetime(2026, 3, 31, 23, 59, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2024, 3, 31, tzinfo=UTC), 1, datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2026, 5, 10, tzinfo=UTC), 120, datetime(2016, 5, 10, tzinfo=UTC)),
        # 01:00 in UTC+02:00 is the evening before in UTC.
        (
            datetime(2026, 7, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            3,
            datetime(2026, 3, 30, tzinfo=UTC),
        ),
    ],
)
def test_the_cutoff_is_midnight_utc_of_the_day_n_calendar_months_ago(now, months, cutoff):
    assert retention_cutoff(now=now, months=months) == cutoff


@pytest.fixture
def add_events(db):
    counter = iter(range(1_000_000))

    def add(project, distinct_id, *times):
        Event.objects.bulk_create(
            Event(
                project=project,
                distinct_id=distinct_id,
                name="Page View",
                time=time,
                insert_id=f"i{next(counter)}",
                ingested_at=CUTOFF,
            )
            for time in times
        )

    return add


def run_batches(project, *, walk_ids, max_rows):
    """Every batch of a run, one after another: what each removed and where it stood."""
    batches, resume_after = [], None
    while True:
        batch = expired_events_delete_batch(
            project_id=project.id,
            cutoff=CUTOFF,
            resume_after=resume_after,
            walk_ids=walk_ids,
            max_rows=max_rows,
        )
        batches.append((batch.removed, batch.resume_after))
        resume_after = batch.resume_after
        if batch.finished:
            return batches


def times_of(project, distinct_id):
    return list(
        Event.objects.filter(project=project, distinct_id=distinct_id)
        .order_by("time")
        .values_list("time", flat=True)
    )


@pytest.mark.django_db
def test_one_id_over_the_cap_goes_in_time_slices_and_its_newer_events_stay(add_events):
    project = ProjectFactory()
    old = [CUTOFF - timedelta(days=day) for day in range(1, 8)]
    add_events(project, "heavy", *old, CUTOFF, CUTOFF + timedelta(days=1))
    add_events(project, "light", CUTOFF - timedelta(days=1))

    batches = run_batches(project, walk_ids=10, max_rows=3)

    assert batches == [(3, None), (3, None), (2, "light")]
    assert times_of(project, "heavy") == [CUTOFF, CUTOFF + timedelta(days=1)]
    assert times_of(project, "light") == []


@pytest.mark.django_db
def test_more_events_at_one_instant_than_the_cap_go_together(add_events):
    project = ProjectFactory()
    instant = CUTOFF - timedelta(days=30)
    add_events(project, "burst", *([instant] * 5), CUTOFF - timedelta(days=1))

    batches = run_batches(project, walk_ids=10, max_rows=2)

    assert batches == [(5, None), (1, "burst")]
    assert times_of(project, "burst") == []


@pytest.mark.django_db
def test_a_chunk_over_the_cap_is_halved_and_other_projects_are_untouched(add_events):
    project, other = ProjectFactory(), ProjectFactory()
    for name in ("a", "b", "c", "d"):
        add_events(project, name, CUTOFF - timedelta(days=2), CUTOFF - timedelta(days=1))
        add_events(other, name, CUTOFF - timedelta(days=2))

    batches = run_batches(project, walk_ids=4, max_rows=5)

    assert batches == [(4, "b"), (4, "d")]
    assert Event.objects.filter(project=project).count() == 0
    assert Event.objects.filter(project=other).count() == 4
