"""Every per-record validation failure, with the exact answer a client gets."""

import json
import time
from http import HTTPStatus

import pytest

from projects.models import Event, GroupProfile, Profile
from tests.projects.ingestion_support import (
    API_SECRET,
    basic_auth,
    event,
    post_data,
    post_import,
    stored_events,
)

pytestmark = pytest.mark.django_db

PLACEHOLDER = "is a placeholder value that Mixpanel does not accept as an id"
INSERT_ID_RULE = "must be 1 to 36 characters of letters, digits and '-'"
INSERT_ID = "0123456789abcdef0123456789abcdef"
NOW = int(time.time())


def _strict_rejection(index, field, message, *, insert_id=INSERT_ID, imported=0):
    return {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [
            {"index": index, "$insert_id": insert_id, "field": field, "message": message}
        ],
        "num_records_imported": imported,
        "status": "Bad Request",
    }


def _verbose_rejection(field, message):
    """The verbose answer to a batch of one record, refused."""
    return {
        "status": 0,
        "error": f"1 of 1 records rejected, 0 accepted: record 0: {message}",
        "failed_records": [{"index": 0, "field": field, "message": message}],
    }


def _nested(levels):
    value = 1
    for level in range(levels):
        value = {f"level{level}": value}
    return value


EVENT_FAILURES = [
    pytest.param(
        {"event": ...},
        "event",
        "'event' is required: the event name, a non-empty string",
        id="no-name",
    ),
    pytest.param(
        {"event": "  "},
        "event",
        "'event' is required: the event name, a non-empty string",
        id="blank-name",
    ),
    pytest.param(
        {"event": "e" * 256}, "event", "'event' is longer than 255 characters", id="long-name"
    ),
    pytest.param(
        {"time": ...},
        "properties.time",
        "'properties.time' is required: seconds or milliseconds since epoch",
        id="no-time",
    ),
    pytest.param(
        {"time": "1700000000"},
        "properties.time",
        "'properties.time' must be a number of seconds or milliseconds since epoch",
        id="text-time",
    ),
    pytest.param(
        {"time": True},
        "properties.time",
        "'properties.time' must be a number of seconds or milliseconds since epoch",
        id="bool-time",
    ),
    pytest.param(
        {"time": 31535999},
        "properties.time",
        "'properties.time' is before 1971-01-01",
        id="1970-seconds",
    ),
    pytest.param(
        {"time": 31535999999},
        "properties.time",
        "'properties.time' is before 1971-01-01",
        id="1970-milliseconds",
    ),
    pytest.param(
        {"time": -5},
        "properties.time",
        "'properties.time' is before 1971-01-01",
        id="negative-time",
    ),
    pytest.param(
        {"time": NOW + 2 * 3600},
        "properties.time",
        "'properties.time' is more than one hour in the future",
        id="future-seconds",
    ),
    pytest.param(
        {"time": (NOW + 2 * 3600) * 1000},
        "properties.time",
        "'properties.time' is more than one hour in the future",
        id="future-milliseconds",
    ),
    pytest.param(
        {"distinct_id": ...},
        "properties.distinct_id",
        "'properties.distinct_id' is required",
        id="no-distinct-id",
    ),
    pytest.param(
        {"distinct_id": None},
        "properties.distinct_id",
        "'properties.distinct_id' is required",
        id="null-distinct-id",
    ),
    pytest.param(
        {"distinct_id": {"id": 1}},
        "properties.distinct_id",
        "'properties.distinct_id' must be a string",
        id="object-distinct-id",
    ),
    pytest.param(
        {"distinct_id": "d" * 256},
        "properties.distinct_id",
        "'properties.distinct_id' is longer than 255 characters",
        id="long-distinct-id",
    ),
    pytest.param(
        {"$user_id": "undefined"},
        "properties.$user_id",
        f"'properties.$user_id' {PLACEHOLDER}",
        id="placeholder-user-id",
    ),
    pytest.param(
        {"distinct_id": ..., "$device_id": "null"},
        "properties.$device_id",
        f"'properties.$device_id' {PLACEHOLDER}",
        id="placeholder-device-id",
    ),
    pytest.param(
        {"distinct_id": ..., "$device_id": "d" * 248},
        "properties.$device_id",
        "'properties.$device_id' is too long: '$device:' and the id exceed 255 characters",
        id="long-device-id",
    ),
    pytest.param(
        {"$insert_id": "has spaces"},
        "properties.$insert_id",
        f"'properties.$insert_id' {INSERT_ID_RULE}",
        id="insert-id-spaces",
    ),
    pytest.param(
        {"$insert_id": "a" * 37},
        "properties.$insert_id",
        f"'properties.$insert_id' {INSERT_ID_RULE}",
        id="insert-id-37",
    ),
    pytest.param(
        {"$insert_id": ""},
        "properties.$insert_id",
        f"'properties.$insert_id' {INSERT_ID_RULE}",
        id="insert-id-empty",
    ),
    pytest.param(
        {"$insert_id": "é" * 10},
        "properties.$insert_id",
        f"'properties.$insert_id' {INSERT_ID_RULE}",
        id="insert-id-accents",
    ),
    pytest.param(
        {**{f"p{n}": n for n in range(251)}},
        "properties",
        "'properties' has 255 properties; the limit is 254",
        id="255-properties",
    ),
    pytest.param(
        {"deep": _nested(4)},
        "properties.deep",
        "'properties.deep' is nested deeper than 3 levels",
        id="nesting-4",
    ),
    pytest.param(
        {"lists": [[[[1]]]]},
        "properties.lists",
        "'properties.lists' is nested deeper than 3 levels",
        id="list-nesting-4",
    ),
    pytest.param(
        {"tags": list(range(255))},
        "properties.tags",
        "'properties.tags' holds a list of 255 items; the limit is 254",
        id="list-255",
    ),
    pytest.param(
        {"obj": {str(n): n for n in range(255)}},
        "properties.obj",
        "'properties.obj' holds an object of 255 items; the limit is 254",
        id="object-255",
    ),
    pytest.param(
        {"nul": "a\x00b"},
        "record",
        "record contains a NUL character, which cannot be stored",
        id="nul",
    ),
    pytest.param(
        {"bad\x00key": 1},
        "record",
        "record contains a NUL character, which cannot be stored",
        id="nul-key",
    ),
    pytest.param(
        {"text": "\ud800"},
        "record",
        "record contains invalid Unicode (a lone surrogate)",
        id="lone-surrogate",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), EVENT_FAILURES)
def test_import_strict_names_the_failing_record_and_stores_the_others(
    client, project, overrides, field, message
):
    good = event(project.token, distinct_id="bob", **{"$insert_id": "good-1"})
    bad = event(project.token, **overrides)

    response = post_import(client, [good, bad])

    insert_id = bad["properties"].get("$insert_id")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == _strict_rejection(
        1, field, message, insert_id=insert_id if isinstance(insert_id, str) else None, imported=1
    )
    assert [row[0] for row in stored_events()] == ["bob"]


# /track uses the current time when an event has none.
TRACK_FAILURES = [param for param in EVENT_FAILURES if param.id != "no-time"]


@pytest.mark.parametrize(("overrides", "field", "message"), TRACK_FAILURES)
def test_track_verbose_says_why_a_record_was_rejected(client, project, overrides, field, message):
    response = post_data(client, "/track", event(project.token, **overrides), verbose=1)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == _verbose_rejection(field, message)
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "placeholder",
    [
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "<nil>",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
        "  Anonymous ",
        "NULL",
        "<NIL>",
        "N/A",
        0,
        -1,
    ],
)
def test_placeholder_distinct_ids_are_refused_trimmed_and_case_insensitively(
    client, project, placeholder
):
    response = post_import(client, [event(project.token, distinct_id=placeholder)])

    assert response.json() == _strict_rejection(
        0, "properties.distinct_id", f"'properties.distinct_id' {PLACEHOLDER}"
    )
    assert Event.objects.count() == 0


def test_limits_are_exclusive_bounds_records_just_inside_are_stored(client, project):
    inside = event(
        project.token,
        distinct_id="d" * 255,
        deep=_nested(3),
        tags=list(range(254)),
        **{f"p{n}": n for n in range(248)},
        **{"$insert_id": "a" * 36},
    )
    assert len(inside["properties"]) == 254

    response = post_import(client, [inside])

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}
    assert Event.objects.get().distinct_id == "d" * 255


def test_a_record_over_one_megabyte_is_refused_with_its_size(client, project):
    big = event(project.token, blob="x" * (1024 * 1024))
    size = len(json.dumps(big, separators=(",", ":")).encode())

    response = post_import(client, [big])

    assert response.json() == _strict_rejection(
        0, "record", f"record is {size} bytes of JSON; the limit is 1048576"
    )


def test_a_number_beyond_json_is_refused_per_record(client, project):
    good = json.dumps(event(project.token, distinct_id="bob"))
    bad = json.dumps(event(project.token)).replace('"distinct_id"', '"big": 1e400, "distinct_id"')

    response = client.post(
        "/import",
        f"[{good}, {bad}]",
        content_type="application/json",
        headers={"authorization": basic_auth(API_SECRET)},
    )

    assert response.json() == _strict_rejection(
        1, "record", "record contains a number too large for JSON", imported=1
    )
    assert [row[0] for row in stored_events()] == ["bob"]


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ([1, 2], "record", "record must be a JSON object"),
        ("text", "record", "record must be a JSON object"),
        ({"event": "x", "properties": [1]}, "properties", "'properties' must be a JSON object"),
    ],
)
def test_records_that_are_not_objects_are_refused(client, project, record, field, message):
    response = post_import(client, [record], query=f"?strict=1&project_id={project.pk}")

    assert response.json() == _strict_rejection(0, field, message, insert_id=None)


def test_an_unreadable_ndjson_line_fails_alone(client, project):
    lines = [
        json.dumps(event(project.token)),
        "{not json",
        json.dumps(event(project.token, distinct_id="bob")),
    ]

    response = client.post(
        "/import?strict=1",
        "\n".join(lines),
        content_type="application/x-ndjson",
        headers={"authorization": basic_auth(API_SECRET)},
    )

    assert response.json() == _strict_rejection(
        1, "record", "line 2 is not valid JSON", insert_id=None, imported=2
    )
    assert [row[0] for row in stored_events()] == ["alice", "bob"]


@pytest.mark.parametrize(
    ("properties", "field", "message"),
    [
        ({"alias": "new-id"}, "properties.distinct_id", "'properties.distinct_id' is required"),
        ({"distinct_id": "alice"}, "properties.alias", "'properties.alias' is required"),
        (
            {"distinct_id": "alice", "alias": "anon"},
            "properties.alias",
            f"'properties.alias' {PLACEHOLDER}",
        ),
    ],
)
def test_create_alias_needs_both_ids(client, project, properties, field, message):
    record = {"event": "$create_alias", "properties": {"token": project.token, **properties}}

    response = post_data(client, "/track", record, verbose=1)

    assert response.json() == _verbose_rejection(field, message)


def test_identify_needs_valid_ids(client, project):
    record = {
        "event": "$identify",
        "properties": {"token": project.token, "$identified_id": "alice", "$anon_id": "none"},
    }

    response = post_data(client, "/track", record, verbose=1)

    assert response.json() == _verbose_rejection(
        "properties.$anon_id", f"'properties.$anon_id' {PLACEHOLDER}"
    )


def test_merge_is_refused_on_track(client, project):
    record = {
        "event": "$merge",
        "properties": {"token": project.token, "$distinct_ids": ["a", "b"]},
    }

    response = post_data(client, "/track", record, verbose=1)

    assert response.json() == _verbose_rejection(
        "event", "'event' $merge is accepted only by /import, with the project's API secret"
    )


@pytest.mark.parametrize("ids", [["a"], ["a", "b", "c"], "a,b", None])
def test_merge_needs_exactly_two_ids(client, project, ids):
    record = {"event": "$merge", "properties": {"token": project.token, "$distinct_ids": ids}}

    response = post_import(client, [record])

    assert response.json() == _strict_rejection(
        0,
        "properties.$distinct_ids",
        "'properties.$distinct_ids' must list exactly two distinct_ids",
        insert_id=None,
    )


ENGAGE_FAILURES = [
    pytest.param(
        {"$token": ...},
        "$token",
        "'$token' is missing: the project token is required",
        id="no-token",
    ),
    pytest.param(
        {"$token": "not-a-project"},
        "$token",
        "'$token' is not a known project token",
        id="unknown-token",
    ),
    pytest.param(
        {"$distinct_id": ...}, "$distinct_id", "'$distinct_id' is required", id="no-distinct-id"
    ),
    pytest.param(
        {"$distinct_id": "undefined"},
        "$distinct_id",
        f"'$distinct_id' {PLACEHOLDER}",
        id="placeholder",
    ),
    pytest.param(
        {"$distinct_id": "d" * 256},
        "$distinct_id",
        "'$distinct_id' is longer than 255 characters",
        id="long-id",
    ),
    pytest.param(
        {"$set": ...},
        "record",
        "record has no profile operation: expected one of "
        "$set, $set_once, $add, $append, $union, $remove, $unset, $delete",
        id="no-operation",
    ),
    pytest.param(
        {"$set": ["plan"]},
        "$set",
        "'$set' must be a JSON object of property names and values",
        id="set-list",
    ),
    pytest.param(
        {"$set": ..., "$add": {"logins": "1"}},
        "$add.logins",
        "'$add.logins' must be a number",
        id="add-text",
    ),
    pytest.param(
        {"$set": ..., "$add": {"logins": True}},
        "$add.logins",
        "'$add.logins' must be a number",
        id="add-bool",
    ),
    pytest.param(
        {"$set": ..., "$union": {"tags": "a"}},
        "$union.tags",
        "'$union.tags' must be a list",
        id="union-scalar",
    ),
    pytest.param(
        {"$set": ..., "$unset": "plan"},
        "$unset",
        "'$unset' must be a list of property names",
        id="unset-text",
    ),
    pytest.param(
        {"$set": ..., "$unset": [1]},
        "$unset",
        "'$unset' must be a list of property names",
        id="unset-numbers",
    ),
    pytest.param(
        {"$set": {f"p{n}": n for n in range(255)}},
        "$set",
        "'$set' has 255 properties; the limit is 254",
        id="set-255",
    ),
    pytest.param(
        {"$set": {"deep": _nested(4)}},
        "$set.deep",
        "'$set.deep' is nested deeper than 3 levels",
        id="set-deep",
    ),
    pytest.param(
        {"$set": {"nul": "\x00"}},
        "record",
        "record contains a NUL character, which cannot be stored",
        id="nul",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), ENGAGE_FAILURES)
def test_engage_refuses_invalid_records(client, project, overrides, field, message):
    record = {
        "$token": project.token,
        "$distinct_id": "alice",
        "$set": {"plan": "pro"},
        **overrides,
    }
    record = {key: value for key, value in record.items() if value is not ...}

    response = post_data(client, "/engage", record, verbose=1)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == _verbose_rejection(field, message)
    assert Profile.objects.count() == 0


@pytest.mark.parametrize(
    ("operation", "field", "message"),
    [
        (
            {"$add": {"plan": 1}},
            "$add.plan",
            "'$add.plan' cannot add to a property that is not a number",
        ),
        (
            {"$append": {"plan": "x"}},
            "$append.plan",
            "'$append.plan' cannot change a property that is not a list",
        ),
        (
            {"$union": {"plan": ["x"]}},
            "$union.plan",
            "'$union.plan' cannot change a property that is not a list",
        ),
        (
            {"$remove": {"plan": "x"}},
            "$remove.plan",
            "'$remove.plan' cannot change a property that is not a list",
        ),
    ],
)
def test_engage_operation_that_does_not_fit_the_profile_leaves_it_unchanged(
    client, project, operation, field, message
):
    records = [
        {"$token": project.token, "$distinct_id": "alice", "$set": {"plan": "pro"}},
        {"$token": project.token, "$distinct_id": "alice", "$set": {"seen": 1}, **operation},
    ]

    response = post_data(client, "/engage", records, verbose=1)

    # One record of the batch applied: a success that names the other.
    assert (response.status_code, response.json()) == (
        HTTPStatus.OK,
        {
            "status": 1,
            "error": None,
            "failed_records": [{"index": 1, "field": field, "message": message}],
        },
    )
    assert Profile.objects.get().properties == {"plan": "pro"}


GROUP_FAILURES = [
    pytest.param(
        {"$token": "nope"}, "$token", "'$token' is not a known project token", id="unknown-token"
    ),
    pytest.param(
        {"$group_key": ...},
        "$group_key",
        "'$group_key' is required: a non-empty string",
        id="no-key",
    ),
    pytest.param(
        {"$group_id": ""}, "$group_id", "'$group_id' is required: a non-empty string", id="empty-id"
    ),
    pytest.param(
        {"$group_id": "g" * 256},
        "$group_id",
        "'$group_id' is longer than 255 characters",
        id="long-id",
    ),
    pytest.param(
        {"$add": {"seats": 1}}, "$add", "'$add' is not supported by this endpoint", id="add"
    ),
    pytest.param(
        {"$append": {"x": 1}}, "$append", "'$append' is not supported by this endpoint", id="append"
    ),
    pytest.param(
        {"$set": ...},
        "record",
        "record has no profile operation: expected one of "
        "$set, $set_once, $union, $remove, $unset, $delete",
        id="no-operation",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), GROUP_FAILURES)
def test_groups_refuse_invalid_records(client, project, overrides, field, message):
    record = {
        "$token": project.token,
        "$group_key": "company",
        "$group_id": "Acme",
        "$set": {"plan": "pro"},
        **overrides,
    }
    record = {key: value for key, value in record.items() if value is not ...}

    response = post_data(client, "/groups", record, verbose=1)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == _verbose_rejection(field, message)
    assert GroupProfile.objects.count() == 0
