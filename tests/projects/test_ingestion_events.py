"""What /track and /import store: columns, dedupe, generated insert ids, the simplified ID
merge and identity events, suppression, and the cost of a full batch."""

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects.models import Event, IdentityKind, IdentityLink, SuppressedId
from projects.pii import distinct_id_hmac
from tests.projects.ingestion_support import event, post_data, post_import, stored_events

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000
OK_VERBOSE = {"status": 1, "error": None}


def _links(project):
    return list(
        IdentityLink.objects.filter(project=project)
        .order_by("distinct_id")
        .values_list("distinct_id", "canonical_id", "kind")
    )


def _suppress(project, *distinct_ids):
    project.suppress_deleted_ids = True
    project.save(update_fields=["suppress_deleted_ids"])
    SuppressedId.objects.bulk_create(
        SuppressedId(
            project=project, id_hmac=distinct_id_hmac(project_id=project.pk, distinct_id=i)
        )
        for i in distinct_ids
    )


def test_track_keeps_token_id_time_and_insert_id_in_columns_only(client, project):
    record = event(
        project.token,
        time=T0 + 0.123456,
        distinct_id="alice",
        mp_lib="python",
        **{"$lib_version": "5.4.1", "$insert_id": "abc-123", "$os": "Linux"},
        plan="pro",
    )

    response = post_data(client, "/track", record, verbose=1)

    assert (response.status_code, response.json()) == (HTTPStatus.OK, OK_VERBOSE)
    stored = Event.objects.get()
    assert (stored.project_id, stored.distinct_id, stored.name, stored.insert_id) == (
        project.pk,
        "alice",
        "Signed up",
        "abc-123",
    )
    assert stored.time == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert stored.properties == {
        "mp_lib": "python",
        "$lib_version": "5.4.1",
        "$os": "Linux",
        "plan": "pro",
    }
    assert stored.source == "track/python 5.4.1"
    assert timezone.now() - stored.ingested_at < timedelta(seconds=5)


def test_track_without_time_uses_now_and_import_source_without_library(client, project):
    before = timezone.now()
    post_data(client, "/track", event(project.token, time=...))
    post_import(client, [event(project.token, distinct_id="bob", time=T0)])

    tracked = Event.objects.get(distinct_id="alice")
    imported = Event.objects.get(distinct_id="bob")
    assert before <= tracked.time <= timezone.now()
    assert (tracked.source, imported.source) == ("track", "import")


def test_seconds_and_milliseconds_name_the_same_instant(client, project):
    records = [
        event(project.token, time=T0, distinct_id="a"),
        event(project.token, time=T0 * 1000, distinct_id="b"),
        event(project.token, time=float(T0), distinct_id="c"),
        event(project.token, time=T0 * 1000 + 1, distinct_id="d"),
    ]

    post_import(client, records)

    assert list(Event.objects.order_by("distinct_id").values_list("time", flat=True)) == [
        datetime.fromtimestamp(T0, tz=UTC),
        datetime.fromtimestamp(T0, tz=UTC),
        datetime.fromtimestamp(T0, tz=UTC),
        datetime.fromtimestamp(T0, tz=UTC) + timedelta(milliseconds=1),
    ]


def test_the_same_batch_twice_is_stored_once(client, project):
    records = [event(project.token, distinct_id=f"user-{n}", time=T0 + n) for n in range(3)]
    records.append(dict(records[0]))  # a duplicate inside the batch too

    first = post_import(client, records)
    second = post_import(client, records)

    ok = {"code": 200, "num_records_imported": 4, "status": "OK"}
    assert (first.status_code, first.json()) == (HTTPStatus.OK, ok)
    assert (second.status_code, second.json()) == (HTTPStatus.OK, ok)
    assert Event.objects.count() == 3


def test_dedupe_key_includes_name_time_distinct_id_and_insert_id(client, project):
    records = [
        event(project.token),
        event(project.token, event="Other name"),
        event(project.token, time=T0 + 1),
        event(project.token, distinct_id="bob"),
        event(project.token, **{"$insert_id": "other-id"}),
    ]

    post_import(client, records)
    post_import(client, records)

    assert Event.objects.count() == 5


def test_missing_insert_id_is_derived_deterministically_so_retries_dedupe(client, project):
    record = event(project.token, time=T0, plan="pro", **{"$insert_id": ...})
    changed = event(project.token, time=T0, plan="team", **{"$insert_id": ...})

    post_import(client, [record])
    post_import(client, [record])
    post_import(client, [changed])

    canonical = json.dumps(
        ["Signed up", "2023-11-14T22:13:20+00:00", "alice", {"plan": "pro"}],
        sort_keys=True,
        separators=(",", ":"),
    )
    expected = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    insert_ids = list(
        Event.objects.order_by("properties__plan").values_list("insert_id", flat=True)
    )
    assert len(insert_ids) == 2
    assert insert_ids[0] == expected
    assert insert_ids[1] != expected and len(insert_ids[1]) == 32


def test_numeric_and_empty_distinct_ids(client, project):
    response = post_import(
        client,
        [
            event(project.token, distinct_id=42),
            event(project.token, distinct_id="", **{"$insert_id": "no-user"}),
        ],
    )

    assert response.json() == {"code": 200, "num_records_imported": 2, "status": "OK"}
    assert sorted(Event.objects.values_list("distinct_id", flat=True)) == ["", "42"]


def test_simplified_id_merge_device_and_user_ids(client, project):
    records = [
        event(project.token, distinct_id=..., event="Anonymous visit", **{"$device_id": "dev-1"}),
        event(
            project.token, distinct_id="$device:dev-1", event="Given id", **{"$device_id": "dev-1"}
        ),
        event(
            project.token,
            distinct_id="ignored",
            event="Logged in",
            **{"$device_id": "dev-1", "$user_id": "alice"},
        ),
        event(project.token, event="Again", **{"$device_id": "dev-1", "$user_id": "alice"}),
        event(project.token, event="Shared device", **{"$device_id": "dev-1", "$user_id": "bob"}),
    ]

    response = post_data(client, "/track", records, verbose=1)

    # The device stays with its first user; the later link is refused and counted.
    assert (response.status_code, response.json()) == (
        HTTPStatus.OK,
        {"status": 1, "error": None, "num_links_refused": 1},
    )
    assert list(Event.objects.order_by("name").values_list("name", "distinct_id")) == [
        ("Again", "alice"),
        ("Anonymous visit", "$device:dev-1"),
        ("Given id", "$device:dev-1"),
        ("Logged in", "alice"),
        ("Shared device", "bob"),
    ]
    assert _links(project) == [("$device:dev-1", "alice", IdentityKind.DEVICE)]


def test_identify_alias_and_merge_create_links_not_events(client, project):
    tracked = post_data(
        client,
        "/track",
        [
            {
                "event": "$identify",
                "properties": {
                    "token": project.token,
                    "$identified_id": "alice",
                    "$anon_id": "anon-7",
                },
            },
            {
                "event": "$create_alias",
                "properties": {
                    "token": project.token,
                    "distinct_id": "alice",
                    "alias": "a@example.com",
                },
            },
        ],
        verbose=1,
    )
    imported = post_import(
        client,
        [
            {
                "event": "$merge",
                "properties": {"token": project.token, "$distinct_ids": ["alice", "alice-2"]},
            }
        ],
    )

    assert tracked.json() == OK_VERBOSE
    assert imported.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}
    assert _links(project) == [
        ("a@example.com", "alice", IdentityKind.ALIAS),
        ("alice-2", "alice", IdentityKind.MERGE),
        ("anon-7", "alice", IdentityKind.IDENTIFY),
    ]
    assert Event.objects.count() == 0


def test_a_refused_alias_is_reported_and_the_rest_of_the_batch_applies(client, project):
    alias = {
        "event": "$create_alias",
        "properties": {"token": project.token, "distinct_id": "alice", "alias": "shared"},
    }
    post_data(client, "/track", alias)
    conflicting = {
        "event": "$create_alias",
        "properties": {
            "token": project.token,
            "distinct_id": "bob",
            "alias": "shared",
            "$insert_id": "x1",
        },
    }

    tracked = post_data(client, "/track", [event(project.token), conflicting], verbose=1)
    strict = post_import(client, [event(project.token, distinct_id="carol"), conflicting])

    reason = "the alias already maps to another id; an alias maps to one id only"
    assert (tracked.status_code, tracked.json()) == (
        HTTPStatus.OK,
        {
            "status": 1,
            "error": None,
            "failed_records": [
                {
                    "index": 1,
                    "field": "properties.alias",
                    "message": f"'properties.alias' link refused: {reason}",
                }
            ],
        },
    )
    assert strict.json() == {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [
            {
                "index": 1,
                "$insert_id": "x1",
                "field": "properties.alias",
                "message": f"'properties.alias' link refused: {reason}",
            }
        ],
        "num_records_imported": 1,
        "status": "Bad Request",
    }
    assert _links(project) == [("shared", "alice", IdentityKind.ALIAS)]
    assert sorted(Event.objects.values_list("distinct_id", flat=True)) == ["alice", "carol"]


def test_a_partial_failure_is_a_success_that_names_every_refused_record(client, project):
    records = [event(project.token, distinct_id=f"user-{n}") for n in range(2)]
    records += [
        event(project.token, distinct_id="anon", **{"$insert_id": f"bad-{n}"}) for n in range(5)
    ]

    verbose = post_data(client, "/track", records, verbose=1)
    plain = post_data(client, "/track", records)

    placeholder = (
        "'properties.distinct_id' is a placeholder value that Mixpanel does not accept as an id"
    )
    assert (verbose.status_code, verbose.json()) == (
        HTTPStatus.OK,
        {
            "status": 1,
            "error": None,
            "failed_records": [
                {"index": index, "field": "properties.distinct_id", "message": placeholder}
                for index in range(2, 7)
            ],
        },
    )
    assert (plain.status_code, plain.content) == (HTTPStatus.OK, b"1")
    assert sorted(Event.objects.values_list("distinct_id", flat=True)) == ["user-0", "user-1"]


def test_a_batch_with_no_valid_record_is_refused_naming_the_first_reasons(client, project):
    records = [
        event(project.token, distinct_id="anon", **{"$insert_id": f"bad-{n}"}) for n in range(5)
    ]

    verbose = post_data(client, "/track", records, verbose=1)
    plain = post_data(client, "/track", records)

    placeholder = (
        "'properties.distinct_id' is a placeholder value that Mixpanel does not accept as an id"
    )
    assert (verbose.status_code, verbose.json()) == (
        HTTPStatus.BAD_REQUEST,
        {
            "status": 0,
            "error": f"5 of 5 records rejected, 0 accepted: record 0: {placeholder}; "
            f"record 1: {placeholder}; record 2: {placeholder}; and 2 more",
            "failed_records": [
                {"index": index, "field": "properties.distinct_id", "message": placeholder}
                for index in range(5)
            ],
        },
    )
    assert (plain.status_code, plain.content) == (HTTPStatus.BAD_REQUEST, b"0")
    assert Event.objects.count() == 0


def _suppression_queries(queries):
    return [query["sql"] for query in queries if "projects_suppressedid" in query["sql"]]


def test_records_of_suppressed_ids_are_dropped_and_counted_with_one_query(client, project):
    _suppress(project, "alice", "$device:dev-9")
    records = [event(project.token, distinct_id=f"user-{n}", time=T0) for n in range(1000)]
    records += [
        event(project.token, distinct_id="alice", time=T0),
        event(
            project.token, distinct_id="bob", time=T0, **{"$device_id": "dev-9", "$user_id": "bob"}
        ),
        {
            "event": "$create_alias",
            "properties": {"token": project.token, "distinct_id": "alice", "alias": "al"},
        },
    ]

    with CaptureQueriesContext(connection) as queries:
        response = post_data(client, "/track", records, verbose=1)

    assert (response.status_code, response.json()) == (
        HTTPStatus.OK,
        {"status": 1, "error": None, "num_records_suppressed": 3},
    )
    assert len(_suppression_queries(queries.captured_queries)) == 1
    assert Event.objects.count() == 1000
    assert not Event.objects.filter(distinct_id__in=["alice", "bob"]).exists()
    assert _links(project) == []

    strict = post_import(
        client, [event(project.token, distinct_id="alice"), event(project.token, distinct_id="zoe")]
    )
    assert strict.json() == {
        "code": 200,
        "num_records_imported": 1,
        "status": "OK",
        "num_records_suppressed": 1,
    }


def test_suppression_switched_off_stores_everything_without_a_lookup(client, project):
    SuppressedId.objects.create(
        project=project, id_hmac=distinct_id_hmac(project_id=project.pk, distinct_id="alice")
    )

    with CaptureQueriesContext(connection) as queries:
        response = post_data(client, "/track", event(project.token), verbose=1)

    assert response.json() == OK_VERBOSE
    assert _suppression_queries(queries.captured_queries) == []
    assert Event.objects.count() == 1


def test_a_full_batch_of_2000_events_costs_a_bounded_number_of_queries(
    client, project, django_assert_max_num_queries
):
    _suppress(project, "nobody")
    records = [
        event(
            project.token, distinct_id=f"user-{n % 400}", time=T0 + n, **{"$insert_id": f"id-{n}"}
        )
        for n in range(2000)
    ]

    with django_assert_max_num_queries(10):
        response = post_import(client, records)

    assert response.json() == {"code": 200, "num_records_imported": 2000, "status": "OK"}
    assert Event.objects.count() == 2000
    assert stored_events()[0] == (
        "user-0",
        "Signed up",
        datetime.fromtimestamp(T0, tz=UTC),
        "id-0",
        {},
    )


def test_logs_hold_no_distinct_ids_or_property_values(client, project, caplog):
    records = [
        event(project.token, distinct_id="person-7f3a", email="secret@example.com"),
        event(project.token, distinct_id="person-7f3a", time="later", email="secret@example.com"),
    ]

    with caplog.at_level(logging.DEBUG, logger="projects"):
        post_data(client, "/track", records, verbose=1)
        post_import(client, records)

    assert caplog.records
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "properties.time" in logged
    assert "person-7f3a" not in logged
    assert "secret@example.com" not in logged
