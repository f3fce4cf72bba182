"""Every encoding Mixpanel's clients use gives the same stored result; limits answer 413 without
the memory a large or hostile body would ask for; CORS, CSRF, methods and answer formats."""

import base64
import gzip
import json
import struct
import tracemalloc
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import quote, urlencode

import pytest
from django.test import Client

from projects.models import Event, GroupProfile, Profile
from tests.projects.ingestion_support import (
    API_SECRET,
    FORM,
    basic_auth,
    event,
    post_data,
    post_import,
    stored_events,
)

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000
TOO_LARGE = {
    "code": 413,
    "error": "request exceeds max limit of 10485760 bytes",
    "status": "Request Entity Too Large",
}
TOO_MANY = {
    "code": 413,
    "error": "request exceeds max limit of 2000 records",
    "status": "Request Entity Too Large",
}
OK_VERBOSE = {"status": 1, "error": None}
MEMORY_CEILING = 100 * 1024 * 1024


def _batch(token):
    common = {"mp_lib": "web", "$lib_version": "2.60.0"}
    return [
        event(token, time=T0, distinct_id="alice", **{"$insert_id": "id-1"}, plan="pro", **common),
        event(
            token,
            event="Café ☕",
            time=T0 * 1000 + 250,
            distinct_id="bob",
            **{"$insert_id": "id-2"},
            tags=["a", "b"],
            **common,
        ),
        event(
            token,
            event="Nested",
            time=T0 + 60,
            distinct_id="carol",
            **{"$insert_id": "id-3"},
            cart={"items": [{"sku": 1}]},
            **common,
        ),
    ]


def _expected():
    return [
        (
            "alice",
            "Signed up",
            datetime.fromtimestamp(T0, tz=UTC),
            "id-1",
            {"plan": "pro", "mp_lib": "web", "$lib_version": "2.60.0"},
        ),
        (
            "bob",
            "Café ☕",
            datetime.fromtimestamp(T0 + 0.25, tz=UTC),
            "id-2",
            {"tags": ["a", "b"], "mp_lib": "web", "$lib_version": "2.60.0"},
        ),
        (
            "carol",
            "Nested",
            datetime.fromtimestamp(T0 + 60, tz=UTC),
            "id-3",
            {"cart": {"items": [{"sku": 1}]}, "mp_lib": "web", "$lib_version": "2.60.0"},
        ),
    ]


def _compact(records):
    return json.dumps(records, separators=(",", ":"))


def _ndjson(records):
    return "\n".join(json.dumps(record) for record in records) + "\n"


def _gzip(text):
    return gzip.compress(text.encode() if isinstance(text, str) else text)


def _track_form_raw(client, records):
    return post_data(client, "/track?verbose=1", records)


def _track_form_base64(client, records):
    data = base64.b64encode(_compact(records).encode()).decode()
    return client.post("/track", urlencode({"data": data, "verbose": 1}), content_type=FORM)


def _track_form_base64_unpadded(client, records):
    data = base64.b64encode(_compact(records).encode()).decode().rstrip("=")
    return client.post("/track/", urlencode({"data": data, "verbose": 1}), content_type=FORM)


def _track_query_get_base64(client, records):
    data = base64.b64encode(_compact(records).encode()).decode()
    return client.get(f"/track?verbose=1&data={quote(data)}")


def _track_query_post_json(client, records):
    return client.generic("POST", f"/track?verbose=1&data={quote(_compact(records))}")


def _track_json_body(client, records):
    return client.post("/track?verbose=1", json.dumps(records), content_type="application/json")


def _track_gzip_json_body(client, records):
    return client.post(
        "/track?verbose=1",
        _gzip(json.dumps(records)),
        content_type="application/json",
        headers={"content-encoding": "gzip"},
    )


def _track_gzip_form_without_header(client, records):
    body = urlencode({"data": _compact(records), "verbose": 1})
    return client.post("/track", _gzip(body), content_type=FORM)


def _import_json_body(client, records):
    return post_import(client, records, query="")


def _import_ndjson(client, records):
    return client.post(
        "/import",
        _ndjson(records),
        content_type="application/x-ndjson",
        headers={"authorization": basic_auth(API_SECRET)},
    )


def _import_ndjson_labelled_json(client, records):
    return client.post(
        "/import/",
        _ndjson(records),
        content_type="application/json",
        headers={"authorization": basic_auth(API_SECRET)},
    )


def _import_gzip_ndjson(client, records):
    return client.post(
        "/import?strict=1",
        _gzip(_ndjson(records)),
        content_type="application/x-ndjson",
        headers={"authorization": basic_auth(API_SECRET), "content-encoding": "gzip"},
    )


def _import_sdk_form(client, records):
    body = urlencode({"data": _compact(records), "verbose": 1, "ip": 0})
    return client.post(
        "/import", body, content_type=FORM, headers={"authorization": basic_auth(API_SECRET)}
    )


STRICT_OK = {"code": 200, "num_records_imported": 3, "status": "OK"}


@pytest.mark.parametrize(
    ("send", "answer", "source"),
    [
        (_track_form_raw, OK_VERBOSE, "track/web 2.60.0"),
        (_track_form_base64, OK_VERBOSE, "track/web 2.60.0"),
        (_track_form_base64_unpadded, OK_VERBOSE, "track/web 2.60.0"),
        (_track_query_get_base64, OK_VERBOSE, "track/web 2.60.0"),
        (_track_query_post_json, OK_VERBOSE, "track/web 2.60.0"),
        (_track_json_body, OK_VERBOSE, "track/web 2.60.0"),
        (_track_gzip_json_body, OK_VERBOSE, "track/web 2.60.0"),
        (_track_gzip_form_without_header, OK_VERBOSE, "track/web 2.60.0"),
        (_import_json_body, STRICT_OK, "import/web 2.60.0"),
        (_import_ndjson, STRICT_OK, "import/web 2.60.0"),
        (_import_ndjson_labelled_json, STRICT_OK, "import/web 2.60.0"),
        (_import_gzip_ndjson, STRICT_OK, "import/web 2.60.0"),
        (_import_sdk_form, OK_VERBOSE, "import/web 2.60.0"),
    ],
)
def test_every_encoding_stores_the_same_events(client, project, send, answer, source):
    response = send(client, _batch(project.token))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == answer
    assert response["Access-Control-Allow-Origin"] == "*"
    assert stored_events() == _expected()
    assert set(Event.objects.values_list("source", flat=True)) == {source}


def test_a_single_object_is_one_record(client, project):
    record = _batch(project.token)[0]

    response = client.post("/track", urlencode({"data": _compact(record)}), content_type=FORM)

    assert response.status_code == HTTPStatus.OK
    assert (response["Content-Type"], response.content) == ("text/plain", b"1")
    assert stored_events() == _expected()[:1]


def test_a_body_over_djangos_upload_limit_but_within_ten_megabytes_is_accepted(
    client, project, settings
):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2621440
    records = [
        event(project.token, distinct_id=f"user-{n}", padding="x" * 4000, **{"$insert_id": f"i{n}"})
        for n in range(1000)
    ]
    body = urlencode({"data": _compact(records), "verbose": 1})
    assert 4_000_000 < len(body) < 10_485_760

    response = client.post("/track", body, content_type=FORM)

    assert (response.status_code, response.json()) == (HTTPStatus.OK, OK_VERBOSE)
    assert Event.objects.count() == 1000


def test_a_body_over_ten_megabytes_is_413_and_stores_nothing(client, project):
    records = [event(project.token, padding="x" * 10_485_760)]
    body = json.dumps(records)

    tracemalloc.start()
    try:
        response = client.post(
            "/import?strict=1",
            body,
            content_type="application/json",
            headers={"authorization": basic_auth(API_SECRET)},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json() == TOO_LARGE
    assert response["Access-Control-Allow-Origin"] == "*"
    assert peak < MEMORY_CEILING
    assert Event.objects.count() == 0


def _gzip_bomb(gigabytes: int = 1) -> bytes:
    """About 1 MB of gzip that inflates to `gigabytes` GiB of zeros: one compressed megabyte of
    zeros repeated (full flushes make the segments identical), with a correct trailer."""
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()[:-8]
    blocks = 1024 * gigabytes
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    return head + segment * (blocks - 1) + tail + struct.pack("<II", crc, (blocks << 20) % 2**32)


@pytest.fixture(scope="module")
def gzip_bomb():
    return _gzip_bomb()


@pytest.mark.parametrize(
    ("path", "headers", "answer"),
    [
        ("/import?strict=1", {"content-encoding": "gzip"}, TOO_LARGE),
        (
            "/track?verbose=1",
            {"content-encoding": "gzip"},
            {"status": 0, "error": TOO_LARGE["error"]},
        ),
        ("/track?verbose=1", {}, {"status": 0, "error": TOO_LARGE["error"]}),  # by its magic bytes
    ],
)
def test_a_gzip_bomb_is_413_without_inflating_it(client, project, gzip_bomb, path, headers, answer):
    assert len(gzip_bomb) < 1_100_000

    tracemalloc.start()
    try:
        response = client.post(
            path,
            gzip_bomb,
            content_type="application/json",
            headers={"authorization": basic_auth(API_SECRET), **headers},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json() == answer
    assert peak < MEMORY_CEILING


def test_gzip_of_valid_json_over_ten_megabytes_is_413(client, project):
    records = [event(project.token, distinct_id=f"u{n}", padding="y" * 6000) for n in range(1800)]
    body = _gzip(json.dumps(records))
    assert len(body) < 1_000_000

    response = client.post(
        "/import",
        body,
        content_type="application/json",
        headers={"authorization": basic_auth(API_SECRET), "content-encoding": "gzip"},
    )

    assert (response.status_code, response.json()) == (
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        TOO_LARGE,
    )
    assert Event.objects.count() == 0


def test_more_than_2000_records_is_413(client, project):
    records = [event(project.token, distinct_id=f"u{n}") for n in range(2001)]

    as_array = post_import(client, records)
    as_ndjson = client.post(
        "/import",
        _ndjson(records),
        content_type="application/x-ndjson",
        headers={"authorization": basic_auth(API_SECRET)},
    )
    as_form = post_data(client, "/track", records, verbose=1)
    as_plain_form = post_data(client, "/track", records)

    assert (as_array.status_code, as_array.json()) == (
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        TOO_MANY,
    )
    assert (as_ndjson.status_code, as_ndjson.json()) == (
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        TOO_MANY,
    )
    assert (as_form.status_code, as_form.json()) == (
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        {"status": 0, "error": "request exceeds max limit of 2000 records"},
    )
    assert (as_plain_form.status_code, as_plain_form.content) == (
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        b"0",
    )
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "message"),
    [
        (b"[{", "application/json", {}, HTTPStatus.BAD_REQUEST, "the body is not valid JSON"),
        (
            b'[{"event": NaN}]',
            "application/json",
            {},
            HTTPStatus.BAD_REQUEST,
            "the body is not valid JSON",
        ),
        (
            b"[{}] trailing",
            "application/json",
            {},
            HTTPStatus.BAD_REQUEST,
            "the body is not valid JSON: unexpected text after the end",
        ),
        (
            b"data=%%%",
            FORM,
            {},
            HTTPStatus.BAD_REQUEST,
            "'data' is neither JSON nor base64-encoded JSON",
        ),
        (b"data=bm90IGpzb24%3D", FORM, {}, HTTPStatus.BAD_REQUEST, "'data' is not valid JSON"),
        (
            b"ip=1",
            FORM,
            {},
            HTTPStatus.BAD_REQUEST,
            "no data: send the records as the 'data' form or query parameter, or as a JSON body",
        ),
        (
            b"",
            FORM,
            {},
            HTTPStatus.BAD_REQUEST,
            "no data: send the records as the 'data' form or query parameter, or as a JSON body",
        ),
        (
            gzip.compress(b"[{}]", mtime=0)[:-6],
            "application/json",
            {"content-encoding": "gzip"},
            HTTPStatus.BAD_REQUEST,
            "the gzip body is truncated",
        ),
        (
            b"\x1f\x8bnot gzip at all",
            "application/json",
            {},
            HTTPStatus.BAD_REQUEST,
            "the body is not valid gzip",
        ),
        (
            b"[{}]",
            "application/json",
            {"content-encoding": "br"},
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "Content-Encoding 'br' is not supported; use gzip",
        ),
        (
            b"--x\r\n",
            "multipart/form-data; boundary=x",
            {},
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "multipart bodies are not accepted: send 'data' form-urlencoded, or a JSON body",
        ),
    ],
)
def test_unreadable_requests_say_why(client, project, body, content_type, headers, status, message):
    verbose = client.post("/track?verbose=1", body, content_type=content_type, headers=headers)
    plain = client.post("/track", body, content_type=content_type, headers=headers)
    strict = client.post(
        "/import",
        body,
        content_type=content_type,
        headers={"authorization": basic_auth(API_SECRET), **headers},
    )

    assert (verbose.status_code, verbose.json()) == (status, {"status": 0, "error": message})
    assert (plain.status_code, plain.content) == (status, b"0")
    # /import answers form bodies in the SDK's verbose shape, and reads a body with text after
    # its first document as NDJSON.
    if content_type != FORM and not body.endswith(b"trailing"):
        assert (strict.status_code, strict.json()) == (
            status,
            {"code": status.value, "error": message, "status": status.phrase},
        )
    assert verbose["Access-Control-Allow-Origin"] == "*"


def test_endpoints_are_csrf_exempt_and_answer_cors_preflight(project):
    client = Client(enforce_csrf_checks=True)

    response = post_data(client, "/track", _batch(project.token)[0])
    preflight = client.options(
        "/import",
        headers={
            "origin": "https://app.example.com",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,authorization",
        },
    )

    assert (response.status_code, response.content) == (HTTPStatus.OK, b"1")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert preflight.status_code == HTTPStatus.NO_CONTENT
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert preflight["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert preflight["Access-Control-Allow-Headers"] == (
        "Content-Type, Content-Encoding, Authorization, X-Requested-With"
    )
    assert client.options("/track/")["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"


def test_import_refuses_get(client, project):
    response = client.get("/import", headers={"authorization": basic_auth(API_SECRET)})

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "POST, OPTIONS"
    assert response.json() == {"code": 405, "error": "use POST", "status": "Method Not Allowed"}


def test_track_answers_a_pixel_or_jsonp_when_asked(client, project):
    record = _batch(project.token)[0]
    bad = event(project.token, distinct_id="anon")

    pixel = post_data(client, "/track?img=1", bad)
    jsonp = post_data(client, "/track?callback=mp.cb_1", record)
    jsonp_verbose = post_data(client, "/track?callback=cb&verbose=1", bad)
    unsafe_callback = post_data(client, "/track?callback=alert(1)//", record)

    assert (pixel.status_code, pixel["Content-Type"]) == (HTTPStatus.OK, "image/png")
    assert pixel.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert (jsonp.status_code, jsonp.content) == (HTTPStatus.OK, b"mp.cb_1(1);")
    assert jsonp_verbose.status_code == HTTPStatus.OK
    placeholder = (
        "'properties.distinct_id' is a placeholder value that Mixpanel does not accept as an id"
    )
    argument = {
        "status": 0,
        "error": f"1 of 1 records rejected, 0 accepted: record 0: {placeholder}",
        "failed_records": [{"index": 0, "field": "properties.distinct_id", "message": placeholder}],
    }
    assert jsonp_verbose.content.decode() == f"cb({json.dumps(argument)});"
    assert (unsafe_callback["Content-Type"], unsafe_callback.content) == ("text/plain", b"1")


def _profile_encodings(client, path, record):
    """The encodings /track reads, sent to /engage or /groups."""
    compact = _compact([record])
    encoded = base64.b64encode(compact.encode()).decode()
    return [
        client.post(path, json.dumps([record]), content_type="application/json"),
        client.get(f"{path}?data={quote(encoded)}"),
        client.generic("POST", f"{path}/?data={quote(compact)}"),
        client.post(
            path,
            _gzip(json.dumps(record)),
            content_type="application/json",
            headers={"content-encoding": "gzip"},
        ),
    ]


def test_engage_and_groups_read_the_encodings_track_reads(client, project):
    profile = {"$token": project.token, "$distinct_id": "alice", "$add": {"visits": 1}}
    group = {
        "$token": project.token,
        "$group_key": "company",
        "$group_id": "Acme",
        "$union": {"seen": ["x"]},
    }

    engaged = _profile_encodings(client, "/engage", profile)
    grouped = _profile_encodings(client, "/groups", group)

    assert [(answer.status_code, answer.content) for answer in engaged + grouped] == [
        (HTTPStatus.OK, b"1")
    ] * 8
    assert Profile.objects.get().properties == {"visits": 4}
    assert GroupProfile.objects.get().properties == {"seen": ["x"]}
