"""/engage and /groups: Mixpanel's profile operations, applied in order, set-based, without lost
updates under concurrency."""

import threading
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects.ingestion.profile_operations import OperationConflict, operations_apply
from projects.models import GroupProfile, Profile, SuppressedId
from projects.pii import distinct_id_hmac
from tests.factories import ProjectFactory
from tests.projects.ingestion_support import post_data

OK_VERBOSE = {"status": 1, "error": None}


@pytest.mark.parametrize(
    ("current", "operations", "expected"),
    [
        (None, [("$set", {"a": 1})], {"a": 1}),
        ({"a": 1, "b": 2}, [("$set", {"a": 3})], {"a": 3, "b": 2}),
        ({"a": 1}, [("$set_once", {"a": 2, "b": 2})], {"a": 1, "b": 2}),
        (None, [("$add", {"n": 2})], {"n": 2}),
        ({"n": 5}, [("$add", {"n": -7})], {"n": -2}),
        ({"n": 1}, [("$add", {"n": 0.5})], {"n": 1.5}),
        (None, [("$append", {"l": "x"})], {"l": ["x"]}),
        ({"l": ["x"]}, [("$append", {"l": ["y"]})], {"l": ["x", ["y"]]}),
        (None, [("$union", {"l": ["a", "a", "b"]})], {"l": ["a", "b"]}),
        (
            {"l": [1, "a"]},
            [("$union", {"l": [True, 1, {"k": 1}, {"k": 1}]})],
            {"l": [1, "a", True, {"k": 1}]},
        ),
        ({"l": ["a", "b", "a"]}, [("$remove", {"l": "a"})], {"l": ["b"]}),
        ({"l": [1, True]}, [("$remove", {"l": 1})], {"l": [True]}),
        ({"x": 1}, [("$remove", {"l": "a"})], {"x": 1}),
        ({"a": 1, "b": 2}, [("$unset", ["a", "missing"])], {"b": 2}),
        ({"a": 1}, [("$delete", "")], None),
        (None, [("$unset", ["a"])], None),
        (None, [("$remove", {"l": "a"})], None),
        (None, [("$delete", None)], None),
        ({"a": 1}, [("$delete", ""), ("$set", {"b": 2})], {"b": 2}),
        (
            {"n": 1},
            [
                ("$add", {"n": 1}),
                ("$set_once", {"n": 9}),
                ("$unset", ["n"]),
                ("$set_once", {"n": 9}),
            ],
            {"n": 9},
        ),
    ],
)
def test_operations_apply_as_mixpanel_defines_them(current, operations, expected):
    before = None if current is None else {**current}

    assert operations_apply(current, operations) == expected
    assert current == before  # the stored value is never mutated in place


@pytest.mark.parametrize(
    ("current", "operations"),
    [
        ({"n": "five"}, [("$add", {"n": 1})]),
        ({"n": True}, [("$add", {"n": 1})]),
        ({"l": "text"}, [("$append", {"l": 1})]),
        ({"l": {"k": 1}}, [("$union", {"l": [1]})]),
        ({"l": 3}, [("$remove", {"l": 3})]),
        ({"n": 1e308}, [("$add", {"n": 1e308})]),
    ],
)
def test_operations_that_do_not_fit_the_value_raise(current, operations):
    with pytest.raises(OperationConflict):
        operations_apply(current, operations)


@pytest.mark.django_db
def test_an_engage_batch_applies_in_order_creating_updating_and_deleting(client, project):
    Profile.objects.create(
        project=project, distinct_id="carol", properties={"plan": "free"}, updated_at=timezone.now()
    )
    Profile.objects.create(
        project=project, distinct_id="dave", properties={"x": 1}, updated_at=timezone.now()
    )
    token = project.token
    records = [
        {"$token": token, "$distinct_id": "alice", "$set": {"plan": "pro"}},
        {"$token": token, "$distinct_id": "alice", "$add": {"logins": 1}},
        {"$token": token, "$distinct_id": "carol", "$set_once": {"plan": "pro", "since": 2020}},
        {"$token": token, "$distinct_id": "alice", "$add": {"logins": 1}, "$ignore_time": True},
        {"$token": token, "$distinct_id": "dave", "$delete": "", "$ignore_alias": True},
        {"$token": token, "$distinct_id": "erin", "$set": {"a": 1}},
        {"$token": token, "$distinct_id": "erin", "$delete": ""},
        {"$token": token, "$distinct_id": "frank", "$unset": ["a"]},
    ]

    response = post_data(client, "/engage", records, verbose=1)

    assert (response.status_code, response.json()) == (HTTPStatus.OK, OK_VERBOSE)
    assert sorted(Profile.objects.values_list("distinct_id", "properties")) == [
        ("alice", {"plan": "pro", "logins": 2}),
        ("carol", {"plan": "free", "since": 2020}),
    ]


@pytest.mark.django_db
def test_engage_keeps_no_last_seen_and_reads_nothing_from_time_or_ip(client, project):
    """Mixpanel stamps `$last_seen` on a profile at each update (unless `$ignore_time`) and
    geolocates `$ip`; here a profile holds only what its operations set, so the engage query
    shows a `$last_seen` only where a client set one (docs/mixpanel-compatibility.md)."""
    token = project.token
    records = [
        {
            "$token": token,
            "$distinct_id": "alice",
            "$set": {"plan": "pro"},
            "$time": 1_700_000_000_000,
            "$ip": "203.0.113.9",
        },
        {
            "$token": token,
            "$distinct_id": "bob",
            "$set": {"$last_seen": "2025-06-01T12:00:00"},
            "$time": 1_700_000_000_000,
        },
    ]

    response = post_data(client, "/engage", records, verbose=1)

    assert (response.status_code, response.json()) == (HTTPStatus.OK, OK_VERBOSE)
    assert sorted(Profile.objects.values_list("distinct_id", "properties")) == [
        ("alice", {"plan": "pro"}),
        ("bob", {"$last_seen": "2025-06-01T12:00:00"}),
    ]


@pytest.mark.django_db
def test_engage_on_an_alias_changes_only_the_alias_own_profile(client, project):
    """Mixpanel applies a profile update sent under an alias to the original's profile unless
    `$ignore_alias` is true; here an operation changes only the profile it names, always."""
    token = project.token
    alias = {
        "event": "$create_alias",
        "properties": {"token": token, "distinct_id": "alice", "alias": "a@example.com"},
    }
    post_data(client, "/track", alias)
    post_data(client, "/engage", {"$token": token, "$distinct_id": "alice", "$set": {"p": 1}})

    response = post_data(
        client,
        "/engage",
        [
            {"$token": token, "$distinct_id": "a@example.com", "$set": {"p": 2}},
            {"$token": token, "$distinct_id": "a@example.com", "$add": {"n": 1}},
            {"$token": token, "$distinct_id": "a@example.com", "$delete": ""},
        ],
        verbose=1,
    )

    assert (response.status_code, response.json()) == (HTTPStatus.OK, OK_VERBOSE)
    assert list(Profile.objects.values_list("distinct_id", "properties")) == [("alice", {"p": 1})]


@pytest.mark.django_db
def test_profiles_are_per_project(client, project):
    other = ProjectFactory()

    post_data(
        client,
        "/engage",
        [
            {"$token": project.token, "$distinct_id": "alice", "$set": {"p": "mine"}},
            {"$token": other.token, "$distinct_id": "alice", "$set": {"p": "theirs"}},
        ],
    )

    assert sorted(Profile.objects.values_list("project_id", "properties")) == sorted(
        [(project.pk, {"p": "mine"}), (other.pk, {"p": "theirs"})]
    )


@pytest.mark.django_db
def test_engage_batch_of_2000_costs_a_bounded_number_of_queries(
    client, project, django_assert_max_num_queries
):
    now = timezone.now()
    Profile.objects.bulk_create(
        Profile(project=project, distinct_id=f"user-{n}", properties={"n": 0}, updated_at=now)
        for n in range(500)
    )
    records = [
        {"$token": project.token, "$distinct_id": f"user-{n % 1000}", "$add": {"n": 1}}
        for n in range(2000)
    ]

    with django_assert_max_num_queries(12):
        response = post_data(client, "/engage", records, verbose=1)

    assert response.json() == OK_VERBOSE
    assert Profile.objects.count() == 1000
    assert [p for p in Profile.objects.values_list("properties", flat=True) if p != {"n": 2}] == []


@pytest.mark.django_db
def test_engage_records_of_suppressed_ids_are_dropped_with_one_query(client, project):
    project.suppress_deleted_ids = True
    project.save(update_fields=["suppress_deleted_ids"])
    SuppressedId.objects.create(
        project=project, id_hmac=distinct_id_hmac(project_id=project.pk, distinct_id="alice")
    )
    records = [
        {"$token": project.token, "$distinct_id": "alice", "$set": {"a": 1}},
        {"$token": project.token, "$distinct_id": "bob", "$set": {"a": 1}},
    ]

    with CaptureQueriesContext(connection) as queries:
        response = post_data(client, "/engage", records, verbose=1)

    assert response.json() == {"status": 1, "error": None, "num_records_suppressed": 1}
    assert len([q for q in queries.captured_queries if "projects_suppressedid" in q["sql"]]) == 1
    assert list(Profile.objects.values_list("distinct_id", flat=True)) == ["bob"]


@pytest.mark.django_db
def test_group_operations(client, project):
    token = project.token

    def group(**operation):
        return {"$token": token, "$group_key": "company", "$group_id": "Acme", **operation}

    records = [
        group(**{"$set": {"plan": "team", "tags": ["b2b"]}}),
        group(**{"$set_once": {"plan": "free", "founded": 1999}}),
        group(**{"$union": {"tags": ["b2b", "eu"]}}),
        group(**{"$remove": {"tags": "b2b"}}),
        group(**{"$unset": ["founded"]}),
        {"$token": token, "$group_key": "company", "$group_id": 42, "$set": {"x": 1}},
        {"$token": token, "$group_key": "team", "$group_id": "Acme", "$set": {"y": 1}},
        {"$token": token, "$group_key": "team", "$group_id": "Acme", "$delete": ""},
    ]

    response = post_data(client, "/groups", records, verbose=1)

    assert (response.status_code, response.json()) == (HTTPStatus.OK, OK_VERBOSE)
    assert sorted(GroupProfile.objects.values_list("group_key", "group_id", "properties")) == [
        ("company", "42", {"x": 1}),
        ("company", "Acme", {"plan": "team", "tags": ["eu"]}),
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_engage_requests_lose_no_update():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writers; row locks matter on PostgreSQL")
    project = ProjectFactory()
    record = {"$token": project.token, "$distinct_id": "alice", "$add": {"n": 1}}
    answers = []

    def send():
        client = Client()
        for _ in range(15):
            answers.append(post_data(client, "/engage", [record, record], verbose=1).json())
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [OK_VERBOSE] * 45
    assert Profile.objects.get(project=project, distinct_id="alice").properties == {"n": 90}
