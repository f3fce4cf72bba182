"""`/import?strict=0`, Mixpanel's non-strict mode (issue 13, item 4): per-record validation is
skipped and what can be stored is stored; what cannot is refused and counted, never a 500."""

import time
from datetime import UTC, datetime
from http import HTTPStatus

import pytest

from projects.models import Event, IdentityLink, RefusedRecordCount
from tests.factories import ProjectFactory
from tests.projects.ingestion_support import event, post_import

pytestmark = pytest.mark.django_db

NOW = int(time.time())


def _nested(levels):
    value = 1
    for level in range(levels):
        value = {f"level{level}": value}
    return value


# Records Mixpanel's validation refuses but non-strict mode stores, and how they are stored.
SKIPPED_RULES = [
    pytest.param({"time": 1000}, "properties.time", id="before-1971"),
    pytest.param({"time": NOW + 7200}, "properties.time", id="two-hours-ahead"),
    pytest.param({"distinct_id": "anon"}, "properties.distinct_id", id="placeholder-id"),
    pytest.param({"$user_id": "undefined"}, "properties.$user_id", id="placeholder-user-id"),
    pytest.param({"$device_id": "null"}, "properties.$device_id", id="placeholder-device-id"),
    pytest.param({"$insert_id": "with_underscore"}, "properties.$insert_id", id="insert-id-chars"),
    pytest.param({"$insert_id": "null"}, "properties.$insert_id", id="insert-id-placeholder"),
    pytest.param({f"p{n}": n for n in range(300)}, "properties", id="300-properties"),
    pytest.param({"deep": _nested(6)}, "properties.deep", id="nesting-6"),
    pytest.param({"tags": list(range(300))}, "properties.tags", id="list-300"),
    pytest.param({f"text{n}": "x" * 11_000 for n in range(100)}, "record", id="over-one-megabyte"),
]


@pytest.mark.parametrize(("overrides", "field"), SKIPPED_RULES)
def test_strict_0_stores_what_strict_validation_refuses(client, project, overrides, field):
    record = event(project.token, **overrides)

    strict = post_import(client, [record], query="?strict=1")
    assert strict.status_code == HTTPStatus.BAD_REQUEST
    assert strict.json()["failed_records"][0]["field"] == field
    assert Event.objects.count() == 0

    lenient = post_import(client, [record], query="?strict=0")

    assert (lenient.status_code, lenient.json()) == (
        HTTPStatus.OK,
        {"code": 200, "num_records_imported": 1, "status": "OK"},
    )
    assert Event.objects.filter(project=project).count() == 1


def test_strict_0_stores_the_values_as_given(client, project):
    record = event(
        project.token,
        time=1000,
        distinct_id="anon",
        **{"$insert_id": "with_underscore"},
        deep=_nested(5),
    )

    post_import(client, [record], query="?strict=0")

    stored = Event.objects.get()
    assert (stored.distinct_id, stored.insert_id) == ("anon", "with_underscore")
    assert stored.time == datetime(1970, 1, 1, 0, 16, 40, tzinfo=UTC)
    assert stored.properties == {"deep": _nested(5)}


def _unstorable(project, other):
    """Records that cannot be stored even without validation, and the field each fails on."""
    return [
        ("not an object", "record"),
        ({"event": "x", "properties": ["a"]}, "properties"),
        (event(project.token, event=...), "event"),
        (event(project.token, event=""), "event"),
        (event(project.token, event="e" * 256), "event"),
        (event(project.token, distinct_id=...), "properties.distinct_id"),
        (event(project.token, distinct_id={"id": 1}), "properties.distinct_id"),
        (event(project.token, distinct_id="d" * 256), "properties.distinct_id"),
        (
            event(project.token, **{"$device_id": "d" * 250, "distinct_id": ...}),
            "properties.$device_id",
        ),
        (event(project.token, time=...), "properties.time"),
        (event(project.token, time="yesterday"), "properties.time"),
        (event(project.token, time=1e300), "properties.time"),
        (event(project.token, time=-(10**14)), "properties.time"),
        (event(project.token, time=10**400), "properties.time"),
        (event(project.token, **{"$insert_id": "i" * 37}), "properties.$insert_id"),
        (event(project.token, **{"$insert_id": ""}), "properties.$insert_id"),
        (event(project.token, **{"$insert_id": 12}), "properties.$insert_id"),
        (event(project.token, text="nul \x00"), "record"),
        (event(project.token, text="\ud800"), "record"),
        (event(other.token), "properties.token"),
        # Identity links keep every rule: a placeholder would join strangers' data.
        (
            {"event": "$merge", "properties": {"$distinct_ids": ["alice", "anon"]}},
            "properties.$distinct_ids[1]",
        ),
        (
            {"event": "$create_alias", "properties": {"distinct_id": "alice", "alias": "null"}},
            "properties.alias",
        ),
        (
            event(project.token, **{"$device_id": "dev-1", "$user_id": "anon"}),
            "properties.$user_id",
        ),
    ]


def test_strict_0_refuses_and_counts_what_cannot_be_stored(client, project):
    other = ProjectFactory()
    cases = _unstorable(project, other)
    good = event(project.token, distinct_id="bob", **{"$insert_id": "good-1"})

    response = post_import(client, [good] + [record for record, _ in cases], query="?strict=0")

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert (body["code"], body["status"], body["num_records_imported"]) == (200, "OK", 1)
    assert [(failure["index"], failure["field"]) for failure in body["failed_records"]] == [
        (index, field) for index, (_, field) in enumerate(cases, start=1)
    ]
    assert list(Event.objects.values_list("distinct_id", flat=True)) == ["bob"]
    assert not IdentityLink.objects.exists()
    counted = sum(
        RefusedRecordCount.objects.filter(project=project).values_list("count", flat=True)
    )
    assert counted == len(cases)
    assert not RefusedRecordCount.objects.filter(project=other).exists()


def test_a_number_too_large_for_a_time_is_refused_in_strict_mode_too(client, project):
    response = post_import(client, [event(project.token, time=10**400)], query="?strict=1")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["failed_records"][0]["field"] == "properties.time"
