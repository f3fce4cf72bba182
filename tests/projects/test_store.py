from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Event
from projects.store import (
    RowCounts,
    events_of_ids,
    events_of_ids_delete_batch,
    events_snapshot_bound,
    ids_with_rows,
    rows_count,
)
from tests.factories import EventFactory, IdentityLinkFactory, ProfileFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_ids_with_rows_stop_at_the_snapshot_and_see_cluster_roots(project):
    EventFactory(project=project, distinct_id="has-event")
    snapshot = events_snapshot_bound()
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
        snapshot_max_event_id=snapshot,
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
        snapshot_max_event_id=events_snapshot_bound(),
        window=(first, last),
    )

    assert sorted(events.values_list("time", flat=True)) == [first, last]


def test_an_event_batch_is_one_delete_statement_bounded_by_size_and_snapshot(project):
    EventFactory.create_batch(3, project=project, distinct_id="alice")
    snapshot = events_snapshot_bound()
    late = EventFactory(project=project, distinct_id="alice")
    bystander = EventFactory(project=project, distinct_id="bob")
    delete = {
        "project_id": project.id,
        "distinct_ids": ["alice"],
        "snapshot_max_event_id": snapshot,
        "size": 2,
    }

    with CaptureQueriesContext(connection) as queries:
        first = events_of_ids_delete_batch(**delete)
    second = events_of_ids_delete_batch(**delete)
    third = events_of_ids_delete_batch(**delete)

    assert (first, second, third) == (2, 1, 0)
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["DELETE"]
    assert set(Event.objects.values_list("id", flat=True)) == {late.id, bystander.id}


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
