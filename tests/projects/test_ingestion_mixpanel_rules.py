"""Smaller rules of Mixpanel's ingestion (issue 13, item 6): strings truncated to 255
characters, a UTF-8 BOM before a JSON body, placeholder $insert_ids, and `ip=1` without a
distinct_id (a documented deviation: no id is made from the address)."""

import codecs
import gzip
import json
from http import HTTPStatus
from urllib.parse import urlencode

import pytest

from projects.models import Event, GroupProfile, Profile
from tests.projects.ingestion_support import (
    API_SECRET,
    FORM,
    basic_auth,
    event,
    post_data,
    post_import,
)

pytestmark = pytest.mark.django_db

LONG = "é" * 200 + "x" * 100  # 300 characters, 500 bytes of UTF-8
CUT = LONG[:255]


def test_event_strings_are_cut_to_255_characters_at_every_depth(client, project):
    record = event(
        project.token,
        text=LONG,
        exact="y" * 255,
        tags=[LONG, "short", 7],
        nested={"inner": {"text": LONG, "list": [LONG]}},
        number=12345678901234567890,
        **{"k" * 300: "name kept"},
    )

    response = post_import(client, [record])

    assert response.status_code == HTTPStatus.OK
    stored = Event.objects.get().properties
    assert stored == {
        "text": CUT,
        "exact": "y" * 255,
        "tags": [CUT, "short", 7],
        "nested": {"inner": {"text": CUT, "list": [CUT]}},
        "number": 12345678901234567890,
        "k" * 300: "name kept",
    }


def test_track_cuts_strings_too_and_a_retry_dedupes(client, project):
    record = event(project.token, text=LONG, **{"$insert_id": ...})

    post_data(client, "/track", record)
    post_data(client, "/track", record)

    assert list(Event.objects.values_list("properties", flat=True)) == [{"text": CUT}]


def test_profile_and_group_strings_are_cut_and_remove_finds_what_set_stored(client, project):
    records = [
        {"$token": project.token, "$distinct_id": "alice", "$set": {"bio": LONG}},
        {"$token": project.token, "$distinct_id": "alice", "$union": {"tags": [LONG, "a"]}},
        {"$token": project.token, "$distinct_id": "alice", "$append": {"log": LONG}},
        {"$token": project.token, "$distinct_id": "alice", "$remove": {"tags": LONG}},
    ]
    group = {
        "$token": project.token,
        "$group_key": "company",
        "$group_id": "Acme",
        "$set_once": {"about": LONG},
    }

    post_data(client, "/engage", records)
    post_data(client, "/groups", group)

    assert Profile.objects.get().properties == {"bio": CUT, "tags": ["a"], "log": [CUT]}
    assert GroupProfile.objects.get().properties == {"about": CUT}


def _json_with_bom(records) -> bytes:
    return codecs.BOM_UTF8 + json.dumps(records).encode()


def _ndjson_with_bom(records) -> bytes:
    return codecs.BOM_UTF8 + "\n".join(json.dumps(record) for record in records).encode()


@pytest.mark.parametrize(
    ("path", "content_type", "body", "headers"),
    [
        ("/import?strict=1", "application/json", _json_with_bom, {}),
        ("/import?strict=1", "application/x-ndjson", _ndjson_with_bom, {}),
        (
            "/import?strict=1",
            "application/json",
            lambda records: gzip.compress(_json_with_bom(records)),
            {"content-encoding": "gzip"},
        ),
        ("/track?verbose=1", "application/json", _json_with_bom, {}),
        ("/track?verbose=1", "text/plain", _json_with_bom, {}),
    ],
    ids=["import-json", "import-ndjson", "import-gzip-json", "track-json", "track-untyped"],
)
def test_a_utf8_bom_before_a_json_body_is_accepted(
    client, project, path, content_type, body, headers
):
    records = [
        event(project.token, distinct_id=f"user-{n}", **{"$insert_id": f"i{n}"}) for n in (1, 2)
    ]

    response = client.post(
        path,
        body(records),
        content_type=content_type,
        headers={"authorization": basic_auth(API_SECRET), **headers},
    )

    assert response.status_code == HTTPStatus.OK, response.content
    assert sorted(Event.objects.values_list("distinct_id", flat=True)) == ["user-1", "user-2"]


RESERVED = ["0", "-1", "null", "NULL", "none", "nil", "na", "anon", "anonymous", "undefined",
            "unknown", "true", "False", "00000000-0000-0000-0000-000000000000"]  # fmt: skip


@pytest.mark.parametrize("insert_id", RESERVED)
def test_insert_ids_from_mixpanels_invalid_list_are_refused(client, project, insert_id):
    good = event(project.token, distinct_id="bob", **{"$insert_id": "good-1"})
    bad = event(project.token, **{"$insert_id": insert_id})

    strict = post_import(client, [good, bad])
    tracked = post_data(client, "/track", [bad], verbose=1)

    message = (
        "'properties.$insert_id' is a placeholder value that Mixpanel does not accept as an id"
    )
    assert strict.status_code == HTTPStatus.BAD_REQUEST
    assert strict.json()["failed_records"] == [
        {"index": 1, "$insert_id": insert_id, "field": "properties.$insert_id", "message": message}
    ]
    assert tracked.json()["failed_records"] == [
        {"index": 0, "field": "properties.$insert_id", "message": message}
    ]
    assert list(Event.objects.values_list("distinct_id", flat=True)) == ["bob"]


def test_insert_ids_that_only_contain_a_placeholder_are_accepted(client, project):
    records = [
        event(project.token, distinct_id=f"u{n}", **{"$insert_id": insert_id})
        for n, insert_id in enumerate(
            ["null-1", "0-0", "anon2", "00000000-0000-0000-0000-000000000001"]
        )
    ]

    response = post_import(client, records)

    assert response.json() == {"code": 200, "num_records_imported": 4, "status": "OK"}


@pytest.mark.parametrize("ip", ["1", "0"])
def test_no_distinct_id_is_made_from_the_clients_address(client, project, ip):
    """Mixpanel derives a distinct_id from the address with `ip=1`; we refuse the record
    instead (docs/mixpanel-compatibility.md, section 6): an address is personal data and names
    no one."""
    record = event(project.token, distinct_id=...)

    response = client.post(
        f"/track?ip={ip}&verbose=1",
        urlencode({"data": json.dumps(record)}),
        content_type=FORM,
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="198.51.100.4",
    )

    assert (response.status_code, response.json()["failed_records"]) == (
        HTTPStatus.BAD_REQUEST,
        [
            {
                "index": 0,
                "field": "properties.distinct_id",
                "message": "'properties.distinct_id' is required",
            }
        ],
    )
    assert Event.objects.count() == 0


def test_ip_1_stores_nothing_of_the_clients_address(client, project):
    """With `ip=1` Mixpanel geolocates an event from the client's address; here the address is
    neither stored nor used (docs/mixpanel-compatibility.md, section 6): the event holds what
    was sent."""
    record = event(project.token, distinct_id="bob", plan="pro")

    response = client.post(
        "/track?ip=1&verbose=1",
        urlencode({"data": json.dumps(record)}),
        content_type=FORM,
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="198.51.100.4",
    )

    assert (response.status_code, response.json()) == (HTTPStatus.OK, {"status": 1, "error": None})
    assert list(Event.objects.values_list("distinct_id", "properties")) == [
        ("bob", {"plan": "pro"})
    ]
