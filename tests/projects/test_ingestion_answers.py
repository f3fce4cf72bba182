"""How a batch is answered (issue 13, item 1): as Mixpanel does, a success when one or more of
its records are valid, so that the SDKs' batching drains; the refused records are named."""

import base64
import json
from http import HTTPStatus
from urllib.parse import urlencode

import pytest

from projects.models import Event, GroupProfile, Profile, SuppressedId
from projects.pii import distinct_id_hmac
from tests.projects.ingestion_support import (
    API_SECRET,
    FORM,
    basic_auth,
    event,
    post_data,
    post_import,
)

pytestmark = pytest.mark.django_db

PLACEHOLDER = (
    "'properties.distinct_id' is a placeholder value that Mixpanel does not accept as an id"
)
TIME_REQUIRED = "'properties.time' is required: seconds or milliseconds since epoch"


def _sdk_batch(token, *, bad_at):
    """50 events as the SDK's BufferedConsumer flushes them through import_data, one bad."""
    records = [
        event(token, distinct_id=f"user-{n}", **{"$insert_id": f"id-{n}"}) for n in range(50)
    ]
    records[bad_at]["properties"]["distinct_id"] = "anon"
    return records


def _post_sdk_import(client, records, query=""):
    """POST /import as the SDK does: form `data`, verbose=1, ip=0, HTTP Basic secret."""
    body = urlencode({"data": json.dumps(records, separators=(",", ":")), "verbose": 1, "ip": 0})
    return client.post(
        "/import" + query,
        body,
        content_type=FORM,
        headers={"authorization": basic_auth(API_SECRET)},
    )


def test_the_sdks_import_batch_with_one_bad_record_is_a_success_naming_it(client, project):
    response = _post_sdk_import(client, _sdk_batch(project.token, bad_at=17))

    assert (response.status_code, response.json()) == (
        HTTPStatus.OK,
        {
            "status": 1,
            "error": None,
            "failed_records": [
                {"index": 17, "field": "properties.distinct_id", "message": PLACEHOLDER}
            ],
        },
    )
    stored = set(Event.objects.values_list("distinct_id", flat=True))
    assert stored == {f"user-{n}" for n in range(50) if n != 17}


def test_the_sdks_import_batch_with_no_valid_record_is_refused(client, project):
    records = [event(project.token, distinct_id="anon", **{"$insert_id": f"b-{n}"}) for n in (0, 1)]

    response = _post_sdk_import(client, records)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["status"] == 0
    assert response.json()["failed_records"] == [
        {"index": index, "field": "properties.distinct_id", "message": PLACEHOLDER}
        for index in (0, 1)
    ]
    assert Event.objects.count() == 0


def test_a_json_import_without_strict_is_strict_as_mixpanels(client, project):
    """Mixpanel's /import validates strictly by default: any refused record makes it a 400 in
    the /import shape, the valid records stored all the same (mixpanel-utils logs it)."""
    records = _sdk_batch(project.token, bad_at=3)

    response = post_import(client, records, query="")

    assert (response.status_code, response.json()) == (
        HTTPStatus.BAD_REQUEST,
        {
            "code": 400,
            "error": "some data points in the request failed validation",
            "failed_records": [
                {
                    "index": 3,
                    "$insert_id": "id-3",
                    "field": "properties.distinct_id",
                    "message": PLACEHOLDER,
                }
            ],
            "num_records_imported": 49,
            "status": "Bad Request",
        },
    )
    assert Event.objects.count() == 49


def test_strict_1_on_the_sdks_form_answers_the_import_shape(client, project):
    response = _post_sdk_import(client, _sdk_batch(project.token, bad_at=0), query="?strict=1")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["num_records_imported"] == 49
    assert [failure["index"] for failure in response.json()["failed_records"]] == [0]


def test_strict_0_answers_ok_while_a_record_was_stored(client, project):
    stored = event(project.token, distinct_id="bob", **{"$insert_id": "ok-1"})
    unstorable = event(project.token, time=..., **{"$insert_id": "no-time"})

    partial = post_import(client, [stored, unstorable], query="?strict=0")
    none = post_import(client, [unstorable], query="?strict=0")

    failed = [
        {"index": 1, "$insert_id": "no-time", "field": "properties.time", "message": TIME_REQUIRED}
    ]
    assert (partial.status_code, partial.json()) == (
        HTTPStatus.OK,
        {"code": 200, "failed_records": failed, "num_records_imported": 1, "status": "OK"},
    )
    assert (none.status_code, none.json()) == (
        HTTPStatus.BAD_REQUEST,
        {
            "code": 400,
            "error": "some data points in the request failed validation",
            "failed_records": [{**failed[0], "index": 0}],
            "num_records_imported": 0,
            "status": "Bad Request",
        },
    )
    assert list(Event.objects.values_list("distinct_id", flat=True)) == ["bob"]


def test_strict_0_through_the_sdks_form_keeps_the_verbose_shape(client, project):
    records = [event(project.token, distinct_id="bob"), event(project.token, time=...)]

    response = _post_sdk_import(client, records, query="?strict=0")

    assert (response.status_code, response.json()) == (
        HTTPStatus.OK,
        {
            "status": 1,
            "error": None,
            "failed_records": [{"index": 1, "field": "properties.time", "message": TIME_REQUIRED}],
        },
    )


@pytest.mark.parametrize(
    ("path", "records", "stored"),
    [
        (
            "/track",
            lambda token: [event(token, distinct_id="bob"), event(token, distinct_id="null")],
            lambda: list(Event.objects.values_list("distinct_id", flat=True)),
        ),
        (
            "/engage",
            lambda token: [
                {"$token": token, "$distinct_id": "bob", "$set": {"plan": "pro"}},
                {"$token": token, "$distinct_id": "null", "$set": {"plan": "pro"}},
            ],
            lambda: list(Profile.objects.values_list("distinct_id", flat=True)),
        ),
        (
            "/groups",
            lambda token: [
                {"$token": token, "$group_key": "company", "$group_id": "Acme", "$set": {"a": 1}},
                {"$token": token, "$group_key": "company", "$group_id": "", "$set": {"a": 1}},
            ],
            lambda: list(GroupProfile.objects.values_list("group_id", flat=True)),
        ),
    ],
    ids=["track", "engage", "groups"],
)
def test_every_endpoint_answers_1_when_one_record_is_valid(client, project, path, records, stored):
    batch = records(project.token)

    plain = post_data(client, path, batch)
    base64_data = client.post(
        path, urlencode({"data": base64.b64encode(json.dumps(batch).encode())}), content_type=FORM
    )
    verbose = post_data(client, path, batch, verbose=1)

    assert (plain.status_code, plain.content) == (HTTPStatus.OK, b"1")
    assert (base64_data.status_code, base64_data.content) == (HTTPStatus.OK, b"1")
    assert verbose.status_code == HTTPStatus.OK
    assert verbose.json()["status"] == 1
    assert verbose.json()["error"] is None
    assert [failure["index"] for failure in verbose.json()["failed_records"]] == [1]
    assert stored() == ["Acme" if path == "/groups" else "bob"]


def test_suppressed_records_are_valid_and_the_counters_stay(client, project):
    project.suppress_deleted_ids = True
    project.save(update_fields=["suppress_deleted_ids"])
    SuppressedId.objects.create(
        project=project, id_hmac=distinct_id_hmac(project_id=project.pk, distinct_id="gone")
    )
    records = [event(project.token, distinct_id="gone"), event(project.token, distinct_id="anon")]

    response = post_data(client, "/track", records, verbose=1)

    assert (response.status_code, response.json()) == (
        HTTPStatus.OK,
        {
            "status": 1,
            "error": None,
            "failed_records": [
                {"index": 1, "field": "properties.distinct_id", "message": PLACEHOLDER}
            ],
            "num_records_suppressed": 1,
        },
    )
    assert Event.objects.count() == 0


def test_an_empty_batch_is_a_success(client, project):
    assert post_data(client, "/track", []).content == b"1"
    assert post_import(client, [], query=f"?project_id={project.pk}").json() == {
        "code": 200,
        "num_records_imported": 0,
        "status": "OK",
    }


def test_pixel_and_jsonp_answer_200_and_jsonp_carries_the_outcome(client, project):
    records = [event(project.token, distinct_id="bob"), event(project.token, distinct_id="anon")]
    refused = [event(project.token, distinct_id="anon")]

    pixel = post_data(client, "/track?img=1", refused)
    partial = post_data(client, "/track?callback=cb", records)
    none = post_data(client, "/track?callback=cb", refused)

    assert (pixel.status_code, pixel["Content-Type"]) == (HTTPStatus.OK, "image/png")
    assert (partial.status_code, partial.content) == (HTTPStatus.OK, b"cb(1);")
    assert (none.status_code, none.content) == (HTTPStatus.OK, b"cb(0);")


def test_strict_1_on_track_answers_the_import_shape_and_strict_0_changes_nothing(client, project):
    records = [event(project.token, distinct_id="bob"), event(project.token, distinct_id="anon")]

    strict = post_data(client, "/track?strict=1", records)
    lenient = post_data(client, "/track?strict=0", records)

    assert (strict.status_code, strict.json()) == (
        HTTPStatus.BAD_REQUEST,
        {
            "code": 400,
            "error": "some data points in the request failed validation",
            "failed_records": [
                {
                    "index": 1,
                    "$insert_id": "0123456789abcdef0123456789abcdef",
                    "field": "properties.distinct_id",
                    "message": PLACEHOLDER,
                }
            ],
            "num_records_imported": 1,
            "status": "Bad Request",
        },
    )
    # /track always validates: strict=0 answers as without the flag, the placeholder refused.
    assert (lenient.status_code, lenient.content) == (HTTPStatus.OK, b"1")
    assert list(Event.objects.values_list("distinct_id", flat=True)) == ["bob"]


def test_ingestion_has_no_rate_limit(client, project):
    """Mixpanel may answer 429 to a project over its ingestion limits; this server has no limit
    of its own on ingestion, so a burst of requests is answered like a single one."""
    tracked = [
        post_data(client, "/track", event(project.token, distinct_id=f"t-{n}")) for n in range(60)
    ]
    imported = [
        post_import(client, [event(project.token, distinct_id=f"i-{n}")]) for n in range(60)
    ]

    assert {(answer.status_code, answer.content) for answer in tracked} == {(HTTPStatus.OK, b"1")}
    assert {answer.status_code for answer in imported} == {HTTPStatus.OK}
    assert Event.objects.count() == 120


def test_pixel_and_jsonp_answer_200_to_a_request_refused_whole(client, project):
    """A script or image tag reads no status code: the JSONP argument carries the refusal."""
    pixel = client.post("/track?img=1", b"[{", content_type="application/json")
    jsonp = client.post("/track?callback=cb", b"[{", content_type="application/json")
    too_many = post_data(
        client, "/engage?callback=cb&verbose=1", [{"$token": project.token}] * 2001
    )

    assert (pixel.status_code, pixel["Content-Type"]) == (HTTPStatus.OK, "image/png")
    assert (jsonp.status_code, jsonp.content) == (HTTPStatus.OK, b"cb(0);")
    assert (too_many.status_code, too_many.content) == (
        HTTPStatus.OK,
        b'cb({"status": 0, "error": "request exceeds max limit of 2000 records"});',
    )
