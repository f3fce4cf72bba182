"""Ingestion reads JSON with orjson where it gives the standard library's values, and with the
standard parser where it would not: integers past 64 bits stay exact, and whatever reads a
batch, the records and what their text shows of their encoding are the same."""

import json

import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.ingestion.decoding import payload_read
from projects.ingestion.validation import record_encoding_problem
from projects.models import Event
from tests.projects.ingestion_support import API_SECRET, basic_auth, event

T0 = 1_700_000_000
BIG = {
    "past_64_bits": 2**70,
    "negative": -(2**65),
    "nineteen_digits": 1234567890123456789,
    "uint64": 2**64 - 1,
    "in_a_list": [2**90, 1],
}


def _post_text(client, text: str, *, content_type: str = "application/json"):
    return client.post(
        "/import?strict=1",
        text,
        content_type=content_type,
        headers={"authorization": basic_auth(API_SECRET)},
    )


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_integers_past_64_bits_are_stored_exactly(client, project, content_type):
    records = [
        event(project.token, distinct_id="big", time=T0, **BIG),
        event(project.token, time=T0, n=1),
    ]
    separator = "\n" if content_type.endswith("ndjson") else ","
    text = separator.join(json.dumps(record) for record in records)
    if separator == ",":
        text = f"[{text}]"

    response = _post_text(client, text, content_type=content_type)

    assert response.json() == {"code": 200, "num_records_imported": 2, "status": "OK"}
    stored = Event.objects.get(distinct_id="big").properties
    assert {key: stored[key] for key in BIG} == BIG
    assert all(type(stored[key]) is int for key in BIG if key != "in_a_list")


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["\x00", "\ud800", "😀", "\ud83d\ude00", "tab\t", "1e400", "\\u0000"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
_RECORDS = st.lists(
    st.dictionaries(st.text(max_size=6), _VALUES, max_size=5), min_size=1, max_size=6
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=_RECORDS,
    ndjson=st.booleans(),
    indent=st.sampled_from([None, 1]),
    overflow=st.booleans(),
)
def test_the_records_read_are_the_standard_librarys_and_flagged_only_when_encodable(
    records, ndjson, indent, overflow
):
    texts = [json.dumps(record, indent=None if ndjson else indent) for record in records]
    if overflow:
        # A literal the standard parser reads as infinity, which orjson refuses.
        texts[0] = texts[0].replace("{", '{"huge": 1e400, ', 1).replace(", }", "}")
    text = "\n".join(texts) if ndjson else "[" + ",".join(texts) + "]"
    expected = [json.loads(line) for line in texts]
    request = RequestFactory().post(
        "/import",
        text.encode(),
        content_type="application/x-ndjson" if ndjson else "application/json",
    )

    payload = payload_read(request, ndjson_allowed=True)

    assert payload.records == expected
    # No flags: the text shows nothing, every record gets the full check.
    flags = payload.encodable or [False] * len(records)
    for record, encodable in zip(payload.records, flags, strict=True):
        if encodable:
            assert record_encoding_problem(record) is None
    if overflow:
        assert not flags[0]
