"""Refused records are counted per project, hour, endpoint and reason (issue 13, item 1), in one
statement a batch, with no id, value or property name in the counters."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.ingestion.outcome import Endpoint, RecordFailure
from projects.ingestion.refusals import refusal_counts_purge, refusal_reason, refusals_count
from projects.models import RefusedRecordCount
from projects.selectors import RefusalTally, refused_records_recent
from tests.factories import ProjectFactory
from tests.projects.ingestion_support import event, post_data, post_import

pytestmark = pytest.mark.django_db


def _counts(project=None):
    rows = RefusedRecordCount.objects.all()
    if project is not None:
        rows = rows.filter(project=project)
    return sorted(rows.values_list("endpoint", "reason", "count"))


def _refusal_inserts(queries):
    table = RefusedRecordCount._meta.db_table
    return [query["sql"] for query in queries.captured_queries if table in query["sql"]]


def test_a_batch_adds_its_refusals_by_reason_in_one_statement(client, project):
    records = [
        event(project.token, distinct_id="bob"),
        event(project.token, distinct_id="anon"),
        event(project.token, distinct_id="null", **{"$insert_id": "two"}),
        event(project.token, time="soon"),
        event(project.token, **{"$insert_id": "not valid!"}),
    ]

    with CaptureQueriesContext(connection) as queries:
        post_import(client, records)

    assert len(_refusal_inserts(queries)) == 1
    assert _counts(project) == [
        ("import", "properties.$insert_id", 1),
        ("import", "properties.distinct_id", 2),
        ("import", "properties.time", 1),
    ]
    row = RefusedRecordCount.objects.filter(project=project).first()
    assert row.hour == datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0)


def test_later_batches_add_to_the_same_counters(client, project):
    bad = [event(project.token, distinct_id="anon")]

    post_data(client, "/track", bad)
    post_data(client, "/track", bad * 3)
    post_import(client, bad)

    assert _counts(project) == [
        ("import", "properties.distinct_id", 1),
        ("track", "properties.distinct_id", 4),
    ]


def test_a_batch_without_refusals_writes_no_counter(client, project):
    with CaptureQueriesContext(connection) as queries:
        post_import(client, [event(project.token)])

    assert _refusal_inserts(queries) == []
    assert not RefusedRecordCount.objects.exists()


def test_property_names_and_values_never_reach_the_counters(client, project):
    secret_name, secret_value = "alice@example.com", "value-7f3a"
    deep = {"a": {"b": {"c": {"d": secret_value}}}}
    records = [
        event(project.token, distinct_id="person-7f3a", **{secret_name: deep}),
        event(project.token, distinct_id="person-7f3a", **{"tags": list(range(300))}),
    ]
    profile = {
        "$token": project.token,
        "$distinct_id": "person-7f3a",
        "$add": {secret_name: secret_value},
    }

    post_import(client, records)
    post_data(client, "/engage", profile)

    assert _counts(project) == [
        ("engage", "$add.*", 1),
        ("import", "properties.*", 2),
    ]
    stored = repr(list(RefusedRecordCount.objects.values()))
    for secret in (secret_name, secret_value, "person-7f3a", "tags"):
        assert secret not in stored


def test_records_of_no_known_project_are_counted_nowhere(client, project):
    other = ProjectFactory()
    records = [
        event("not-a-token", distinct_id="anon"),
        event(None, distinct_id="bob"),
        "not an object",
        event(project.token, distinct_id="anon"),
        event(other.token, distinct_id="undefined"),
    ]

    post_data(client, "/track", records)
    post_data(client, "/engage", [{"$token": "nope", "$distinct_id": "x", "$set": {"a": 1}}])

    assert _counts(project) == [("track", "properties.distinct_id", 1)]
    assert _counts(other) == [("track", "properties.distinct_id", 1)]
    assert RefusedRecordCount.objects.count() == 2


def test_import_counts_even_unreadable_records_for_the_authenticated_project(client, project):
    records = ["not an object", {"event": "x", "properties": "text"}]

    post_import(client, records, query=f"?strict=1&project_id={project.pk}")

    assert _counts(project) == [("import", "properties", 1), ("import", "record", 1)]


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("properties.time", "properties.time"),
        ("properties.$insert_id", "properties.$insert_id"),
        ("properties.$distinct_ids[1]", "properties.$distinct_ids[1]"),
        ("properties.alice@example.com", "properties.*"),
        ("properties.time.nested", "properties.*"),
        ("$set.email", "$set.*"),
        ("$union.tags", "$union.*"),
        ("$set", "$set"),
        ("record", "record"),
        ("event", "event"),
    ],
)
def test_reasons_leave_property_names_out(field, reason):
    assert refusal_reason(field) == reason


def test_counters_are_kept_by_hour(project):
    failure = RecordFailure(index=0, field="event", message="m", project_id=project.pk)
    noon = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    refusals_count(endpoint=Endpoint.TRACK, failures=[failure], now=noon + timedelta(minutes=5))
    refusals_count(endpoint=Endpoint.TRACK, failures=[failure], now=noon + timedelta(minutes=59))
    refusals_count(endpoint=Endpoint.TRACK, failures=[failure], now=noon + timedelta(minutes=61))

    assert sorted(RefusedRecordCount.objects.values_list("hour", "count")) == [
        (noon, 2),
        (noon + timedelta(hours=1), 1),
    ]


def test_a_track_batch_of_many_projects_is_counted_for_each(client):
    projects = ProjectFactory.create_batch(150)
    records = [event(project.token, distinct_id="anon") for project in projects]

    post_data(client, "/track", records)

    assert RefusedRecordCount.objects.count() == 150
    assert set(RefusedRecordCount.objects.values_list("count", flat=True)) == {1}


def test_the_selector_sums_the_last_24_hours_of_one_project(project):
    other = ProjectFactory()
    now = datetime(2026, 5, 2, 12, 30, tzinfo=UTC)

    def add(target, endpoint, field, count, hours_ago):
        failures = [RecordFailure(index=0, field=field, message="m", project_id=target.pk)] * count
        refusals_count(endpoint=endpoint, failures=failures, now=now - timedelta(hours=hours_ago))

    add(project, Endpoint.IMPORT, "properties.time", 3, 0)
    add(project, Endpoint.IMPORT, "properties.time", 2, 23)
    add(project, Endpoint.TRACK, "properties.distinct_id", 4, 1)
    add(project, Endpoint.ENGAGE, "$set.plan", 1, 5)
    add(project, Endpoint.IMPORT, "properties.time", 100, 25)  # too old
    add(other, Endpoint.IMPORT, "properties.time", 50, 0)  # another project

    assert refused_records_recent(project=project, now=now) == [
        RefusalTally(endpoint="import", reason="properties.time", count=5),
        RefusalTally(endpoint="track", reason="properties.distinct_id", count=4),
        RefusalTally(endpoint="engage", reason="$set.*", count=1),
    ]
    assert refused_records_recent(project=ProjectFactory(), now=now) == []


def test_counters_older_than_a_week_are_purged(project):
    now = datetime(2026, 5, 10, 12, 30, tzinfo=UTC)
    failure = RecordFailure(index=0, field="event", message="m", project_id=project.pk)
    for days in (0, 6, 8, 30):
        refusals_count(endpoint=Endpoint.TRACK, failures=[failure], now=now - timedelta(days=days))
    # The hour that began 6 days, 23 hours and 30 minutes ago is within the week: kept.
    refusals_count(
        endpoint=Endpoint.TRACK, failures=[failure], now=now - timedelta(days=7, minutes=-31)
    )

    assert refusal_counts_purge(now=now) == 2

    kept = sorted(RefusedRecordCount.objects.values_list("hour", flat=True))
    hour = now.replace(minute=0)
    assert kept == [hour - timedelta(days=7, hours=-1), hour - timedelta(days=6), hour]
    assert refusal_counts_purge(now=now) == 0
