from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Event
from projects.store import (
    RowCounts,
    events_of_ids,
    events_snapshot_now,
    ids_with_rows,
    rows_count,
)
from projects.store_deletes import event_counts, event_slice_end, events_delete
from tests.factories import EventFactory, IdentityLinkFactory, ProfileFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_ids_with_rows_stop_at_the_snapshot_and_see_cluster_roots(project):
    EventFactory(project=project, distinct_id="has-event")
    snapshot = events_snapshot_now()
    EventFactory(project=project, distinct_id="event-after-snapshot")
    ProfileFactory(project=project, distinct_id="has-profile")
    IdentityLinkFactory(project=project, distinct_id="alias", canonical_id="root")
    EventFactory(distinct_id="other-project")

    found = ids_with_rows(
        project_id=project.id,
        distinct_ids=[
            "has-event",
            "event-after-snapshot",
            "has-profile",
            "alias",
            "root",
            "other-project",
            "nobody",
        ],
        snapshot_at=snapshot,
    )

    assert found == {"has-event", "has-profile", "alias", "root"}


def test_events_of_ids_keep_the_window_with_both_ends(project):
    first = datetime(2026, 1, 1, tzinfo=UTC)
    last = datetime(2026, 1, 31, tzinfo=UTC)
    for day in (first.replace(year=2025), first, last, last.replace(year=2027)):
        EventFactory(project=project, distinct_id="alice", time=day)

    events = events_of_ids(
        project_id=project.id,
        distinct_ids=["alice"],
        snapshot_at=events_snapshot_now(),
        window=(first, last),
    )

    assert sorted(events.values_list("time", flat=True)) == [first, last]


def test_an_event_delete_is_one_statement_routed_by_ids_and_bounded_by_snapshot_and_time(
    project,
):
    times = [datetime(2026, 1, day, tzinfo=UTC) for day in (1, 2, 3)]
    for moment in times:
        EventFactory(project=project, distinct_id="alice", time=moment)
    snapshot = events_snapshot_now()
    late = EventFactory(project=project, distinct_id="alice", time=times[0])
    bystander = EventFactory(project=project, distinct_id="bob", time=times[0])
    delete = {"project_id": project.id, "distinct_ids": ["alice"], "snapshot_at": snapshot}

    with CaptureQueriesContext(connection) as queries:
        first = events_delete(**delete, through=times[1])
    second = events_delete(**delete, after=times[1])
    third = events_delete(**delete)

    assert (first, second, third) == (2, 1, 0)
    [sql] = [query["sql"] for query in queries.captured_queries]
    assert sql.startswith('DELETE FROM "projects_event" WHERE "project_id" = ')
    assert ' "distinct_id" ' in sql and "SELECT" not in sql
    assert set(Event.objects.values_list("id", flat=True)) == {late.id, bystander.id}


def test_event_slices_end_where_the_size_is_reached_through_the_index(project):
    times = [datetime(2026, 1, day, tzinfo=UTC) for day in (1, 2, 2, 3, 4)]
    for moment in times:
        EventFactory(project=project, distinct_id="alice", time=moment)
    EventFactory(project=project, distinct_id="bob", time=times[0])

    def end(after, size):
        return event_slice_end(project_id=project.id, distinct_id="alice", after=after, size=size)

    assert end(None, 2) == times[1]
    assert end(times[1], 2) == times[4]
    assert end(times[3], 2) is None
    assert event_counts(project_id=project.id, distinct_ids=["alice", "bob", "nobody"]) == {
        "alice": 5,
        "bob": 1,
    }


def test_rows_count_counts_every_event_profile_and_link_of_the_ids(project):
    EventFactory.create_batch(2, project=project, distinct_id="alice")
    EventFactory(project=project, distinct_id="alias")
    EventFactory(project=project, distinct_id="bob")
    ProfileFactory(project=project, distinct_id="alice")
    IdentityLinkFactory(project=project, distinct_id="alias", canonical_id="alice")
    other = ProjectFactory(organization=project.organization)
    EventFactory(project=other, distinct_id="alice")
    ProfileFactory(project=other, distinct_id="alice")

    counts = rows_count(project_id=project.id, distinct_ids=["alice", "alias"])

    assert counts == RowCounts(events=3, profiles=1, identity_links=1)
