"""Deduplication as Mixpanel does it: of records with the same (event, time, distinct_id,
$insert_id), the latest ingested wins, across batches and within one, in one INSERT."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.ingestion.event_store import events_store
from projects.models import Event
from tests.factories import ProjectFactory
from tests.projects.ingestion_support import event, post_data, post_import

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000


def _stored(project):
    return list(
        Event.objects.filter(project=project)
        .order_by("distinct_id", "insert_id")
        .values_list("distinct_id", "insert_id", "properties", "source")
    )


def test_a_later_batch_replaces_the_stored_copy(client, project):
    first = event(project.token, time=T0, plan="free", **{"$insert_id": "purchase-1"})
    later = event(
        project.token, time=T0, plan="pro", mp_lib="python", **{"$insert_id": "purchase-1"}
    )

    post_import(client, [first])
    stored_id = Event.objects.get().pk
    response = post_import(client, [later])

    assert response.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}
    (row,) = Event.objects.all()
    assert row.pk == stored_id  # the same row, updated in place
    assert (row.properties, row.source) == ({"plan": "pro", "mp_lib": "python"}, "import/python")


def test_a_later_track_copy_replaces_an_imported_one(client, project):
    post_import(client, [event(project.token, time=T0, plan="free", **{"$insert_id": "x-1"})])

    post_data(client, "/track", event(project.token, time=T0, plan="pro", **{"$insert_id": "x-1"}))

    assert _stored(project) == [("alice", "x-1", {"plan": "pro"}, "track")]


def test_within_a_batch_the_last_copy_wins(client, project):
    copies = [
        event(project.token, time=T0, version=version, **{"$insert_id": "same"})
        for version in (1, 2, 3)
    ]

    response = post_import(client, [*copies, event(project.token, distinct_id="bob")])

    assert response.json() == {"code": 200, "num_records_imported": 4, "status": "OK"}
    assert [row[:3] for row in _stored(project)] == [
        ("alice", "same", {"version": 3}),
        ("bob", "0123456789abcdef0123456789abcdef", {}),
    ]


def test_an_identical_copy_rewrites_nothing(project):
    now = datetime.now(tz=UTC)
    time = datetime.fromtimestamp(T0, tz=UTC)
    row = (project.pk, "alice", "Signed up", time, "id-1", {"plan": "pro"}, "import", now)
    later = now + timedelta(minutes=5)

    assert events_store(rows=[row]) == 1
    assert events_store(rows=[row[:-1] + (later,)]) == 0  # same content: not rewritten
    assert Event.objects.get().ingested_at == now
    changed = (project.pk, "alice", "Signed up", time, "id-1", {"plan": "team"}, "import", later)
    assert events_store(rows=[changed]) == 1
    stored = Event.objects.get()
    assert (stored.properties, stored.ingested_at) == ({"plan": "team"}, later)


def test_the_key_is_per_project_and_other_records_are_untouched(client, project):
    other = ProjectFactory()
    post_import(client, [event(project.token, time=T0, plan="free", **{"$insert_id": "k"})])
    post_data(client, "/track", event(other.token, time=T0, plan="other", **{"$insert_id": "k"}))
    post_import(client, [event(project.token, time=T0 + 1, plan="kept", **{"$insert_id": "k"})])

    post_import(client, [event(project.token, time=T0, plan="new", **{"$insert_id": "k"})])

    assert sorted(Event.objects.values_list("project_id", "time", "properties")) == sorted(
        [
            (project.pk, datetime.fromtimestamp(T0, tz=UTC), {"plan": "new"}),
            (project.pk, datetime.fromtimestamp(T0 + 1, tz=UTC), {"plan": "kept"}),
            (other.pk, datetime.fromtimestamp(T0, tz=UTC), {"plan": "other"}),
        ]
    )


def test_a_batch_with_replacements_is_still_one_insert(client, project):
    records = [
        event(project.token, distinct_id=f"user-{n}", time=T0 + n, **{"$insert_id": f"id-{n}"})
        for n in range(500)
    ]
    post_import(client, records)
    for record in records[::2]:
        record["properties"]["plan"] = "changed"

    with CaptureQueriesContext(connection) as queries:
        post_import(client, records)

    inserts = [query["sql"] for query in queries.captured_queries if "INSERT" in query["sql"]]
    assert len(inserts) == 1
    assert "ON CONFLICT" in inserts[0]
    assert Event.objects.filter(project=project).count() == 500
    assert Event.objects.filter(project=project, properties__plan="changed").count() == 250
