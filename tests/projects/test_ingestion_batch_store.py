"""A batch's way into the store: the rows arrive exactly as sent whatever characters they hold
(on PostgreSQL they travel in COPY's text format, through a staging table), a staging table
used twice in one transaction holds only the second batch, and a record's encoding is judged
the same whether or not its JSON text spares serializing it again (decoding's `encodable`)."""

import json
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from projects.ingestion.event_store import events_store
from projects.models import Event
from tests.projects.ingestion_support import API_SECRET, basic_auth, event, post_import

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000
LIMIT = 1024 * 1024


def _post_text(client, text: str, query: str = "?strict=1"):
    return client.post(
        "/import" + query,
        text,
        content_type="application/json",
        headers={"authorization": basic_auth(API_SECRET)},
    )


# Each of COPY's delimiters and escapes, and the text that would read as one unescaped.
AWKWARD = 'tab\there, line\nbreak, return\r, back\\slash, \\N, \\., \\t, quote" end'


def test_text_with_copy_delimiters_is_stored_exactly_as_sent(client, project):
    record = event(
        project.token,
        event="Signed\tup \\N",
        distinct_id="al\\ice\t\n",
        time=T0,
        mp_lib="lib\twith\\tab",
        note=AWKWARD,
        nested={"list": [AWKWARD, "é😀", {"k\\ey\t": "v\nal"}]},
        **{"$insert_id": "back\\slash\ttab.\\N"},
    )

    # strict=0: an $insert_id of any text, as the non-strict mode allows.
    response = post_import(client, [record], query="?strict=0")

    assert response.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}
    stored = Event.objects.get()
    assert (stored.name, stored.distinct_id, stored.insert_id, stored.source) == (
        "Signed\tup \\N",
        "al\\ice\t\n",
        "back\\slash\ttab.\\N",
        "import/lib\twith\\tab",
    )
    assert stored.properties == {
        "mp_lib": "lib\twith\\tab",
        "note": AWKWARD,
        "nested": {"list": [AWKWARD, "é😀", {"k\\ey\t": "v\nal"}]},
    }
    assert stored.time == datetime.fromtimestamp(T0, tz=UTC)


def test_an_empty_distinct_id_is_stored_as_empty_text_not_null(client, project):
    response = post_import(client, [event(project.token, distinct_id="", time=T0)])

    assert response.json()["num_records_imported"] == 1
    assert Event.objects.get().distinct_id == ""


def test_two_batches_in_one_transaction_store_each_batch_once(project):
    at = datetime.fromtimestamp(T0, tz=UTC)
    now = datetime.now(tz=UTC)
    alice = (project.pk, "alice", "Signed up", at, "id-1", {"plan": "free"}, "import", now)
    bob = (project.pk, "bob", "Signed up", at, "id-2", {"plan": "free"}, "import", now)

    with transaction.atomic():
        assert events_store(rows=[alice]) == 1
        Event.objects.filter(distinct_id="alice").update(properties={"plan": "changed since"})
        # Had alice's batch stayed staged, this one would write her row again.
        assert events_store(rows=[bob]) == 1

    assert sorted(Event.objects.values_list("distinct_id", "properties")) == [
        ("alice", {"plan": "changed since"}),
        ("bob", {"plan": "free"}),
    ]


def _stage_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_temp.ingestion_event_stage') IS NOT NULL")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY paths are PostgreSQL's")
def test_new_records_are_copied_straight_and_a_stored_key_goes_the_staged_way(project):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.ingestion_event_stage")
    at = datetime.fromtimestamp(T0, tz=UTC)
    now = datetime.now(tz=UTC)
    alice = (project.pk, "alice", "Signed up", at, "id-1", {"plan": "free"}, "import", now)
    bob = (project.pk, "bob", "Signed up", at, "id-2", {"plan": "free"}, "import", now)
    carol = (project.pk, "carol", "Signed up", at, "id-3", {"plan": "free"}, "import", now)

    assert events_store(rows=[alice, bob]) == 2
    assert not _stage_exists()
    # Bob's later copy replaces his row, Carol's is new: the COPY fails on Bob's key, rolls
    # back to its savepoint (Carol's row with it), and the staged INSERT decides per record.
    later_bob = (*bob[:5], {"plan": "pro"}, *bob[6:])
    assert events_store(rows=[carol, later_bob]) == 2
    assert _stage_exists()
    # The same batch again writes nothing: identical copies are skipped.
    assert events_store(rows=[carol, later_bob]) == 0

    assert sorted(Event.objects.values_list("distinct_id", "properties")) == [
        ("alice", {"plan": "free"}),
        ("bob", {"plan": "pro"}),
        ("carol", {"plan": "free"}),
    ]


def test_a_record_whose_numbers_grow_past_the_limit_when_serialized_is_refused(client, project):
    # 1e15 is 4 characters of JSON and 18 once serialized (1000000000000000.0): this record's
    # text is under a third of the limit, its compact JSON over it.
    lists = ",".join(["[" + ",".join(["1e15"] * 120) + "]"] * 254)
    properties = ",".join(f'"p{n}":[{lists}]' for n in range(2))
    head = f'"token":"{project.token}","distinct_id":"alice","time":{T0},"$insert_id":"id-1"'
    text = f'[{{"event":"Signed up","properties":{{{head},{properties}}}}}]'
    record = json.loads(text)[0]
    size = len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())
    assert len(text) < LIMIT / 3 and size > LIMIT

    response = _post_text(client, text)

    assert response.json()["failed_records"] == [
        {
            "index": 0,
            "$insert_id": "id-1",
            "field": "record",
            "message": f"record is {size} bytes of JSON; the limit is 1048576",
        }
    ]
    assert not Event.objects.exists()


def test_a_record_just_under_the_limit_is_stored(client, project):
    # Long text values: each is cut to 255 characters when stored, but counts in full for the
    # record's size.
    record = event(project.token, time=T0, **{f"p{n}": "x" * 4000 for n in range(240)})
    size = len(json.dumps(record, separators=(",", ":")).encode())
    record["properties"]["pad"] = "y" * (LIMIT - size - len(',"pad":""'))
    assert len(json.dumps(record, separators=(",", ":")).encode()) == LIMIT

    response = post_import(client, [record])

    assert response.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}
    assert Event.objects.get().properties["p0"] == "x" * 255


def test_escaped_characters_that_decode_harmlessly_are_stored(client, project):
    # ensure_ascii: every non-ASCII character escaped, the emoji as a surrogate pair.
    records = [
        event(project.token, time=T0, city="São Paulo", mood="😀"),
        event(project.token, distinct_id="bob", time=T0, text="tab\tand \\u0000 as text"),
    ]

    response = _post_text(client, json.dumps(records, ensure_ascii=True))

    assert response.json() == {"code": 200, "num_records_imported": 2, "status": "OK"}
    stored = dict(Event.objects.values_list("distinct_id", "properties"))
    assert stored["alice"] == {"city": "São Paulo", "mood": "😀"}
    assert stored["bob"] == {"text": "tab\tand \\u0000 as text"}


def _near_the_usual_record(token: str) -> list:
    """Records at each edge of the usual one: stored, refused, or taken by the full parse."""
    now = int(time.time())
    usual = {"token": token, "distinct_id": "alice", "time": T0, "$insert_id": "id-1", "a": 1}

    def record(event="Page View", **changes):
        properties = {**usual, **changes}
        return {"event": event, "properties": {k: v for k, v in properties.items() if v != ...}}

    return [
        record(),
        record(event="  "),
        record(event="e" * 255, **{"$insert_id": "id-2"}),
        record(event="e" * 256),
        record(event=5),
        {
            "event": "$identify",
            "properties": {"token": token, "$identified_id": "u1", "$anon_id": "a1"},
        },
        record(token="someone-else"),
        record(token="", **{"$insert_id": "id-3"}),
        record(token=..., **{"$insert_id": "id-4"}),
        record(distinct_id=42),
        record(distinct_id="", **{"$insert_id": "id-5"}),
        record(distinct_id="undefined"),
        record(distinct_id=" Null "),
        record(distinct_id="d" * 256),
        record(distinct_id=...),
        record(**{"$user_id": "u2", "$device_id": "dev-2", "$insert_id": "id-6"}),
        record(distinct_id=..., **{"$device_id": "dev-3", "$insert_id": "id-7"}),
        record(**{"$insert_id": ...}),
        record(**{"$insert_id": "null"}),
        record(**{"$insert_id": "not an id!"}),
        record(**{"$insert_id": 7}),
        record(time=T0 * 1000 + 5, **{"$insert_id": "id-8"}),
        record(time=T0 + 0.25, **{"$insert_id": "id-9"}),
        record(time=now + 7200),
        record(time=now + 1800, **{"$insert_id": "id-10"}),
        record(time=10),
        record(time=...),
        record(time=True),
        record(time="1700000000"),
        record(long="x" * 300, none=None, flag=True, price=9.5, **{"$insert_id": "id-11"}),
        record(nested={"list": [1, {"b": "y" * 300}]}, **{"$insert_id": "id-12"}),
        record(**{f"p{n}": n for n in range(251)}),
        record(**{f"p{n}": n for n in range(250)}, **{"$insert_id": "id-13"}),
        {**record(**{"$insert_id": "id-14"}), "extra": 1},
        {**record(**{"$insert_id": "id-15"}), "extra": {"deep": [1]}},
        {"event": "Page View", "properties": None},
        {"event": "Page View", "properties": ["not", "an", "object"]},
        {"event": "Page View"},
        5,
    ]


def test_the_usual_records_quick_parse_answers_and_stores_as_the_full_parse(client, project):
    records = _near_the_usual_record(project.token)
    # A NUL escape anywhere in the text makes every record of the batch take the full parse.
    nul = event(project.token, distinct_id="nul", text="a\x00b")

    def outcome(batch):
        response = _post_text(client, json.dumps(batch))
        answer = response.json()
        stored = sorted(
            Event.objects.values_list(
                "distinct_id", "name", "time", "insert_id", "properties", "source"
            ),
            key=repr,
        )
        Event.objects.all().delete()
        return response.status_code, answer, stored

    quick_status, quick, quick_stored = outcome(records)
    full_status, full, full_stored = outcome([*records, nul])

    assert full["failed_records"][-1]["index"] == len(records)
    assert (quick_status, quick["failed_records"]) == (full_status, full["failed_records"][:-1])
    assert quick["num_records_imported"] == full["num_records_imported"]
    assert quick_stored == full_stored
    assert len(quick_stored) > 15 and len(quick["failed_records"]) > 15
