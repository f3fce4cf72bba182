"""`/api/2.0/engage` as Mixpanel's clients call it: each parameter, the answer's shape, pages of
1,000 across a larger selection with a session, and every refusal in Mixpanel's error shape."""

import json
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone
from redis import RedisError

from projects.engage_query.parameters import MAX_DISTINCT_IDS
from projects.engage_query.sessions import SESSION_MAX_AGE
from projects.models import Profile
from tests.factories import ProfileFactory
from tests.projects.engage_query_support import ENGAGE, basic, engage_query


def ids(response) -> list[str]:
    assert response.status_code == HTTPStatus.OK, response.content
    return [result["$distinct_id"] for result in response.json()["results"]]


@pytest.fixture
def people(project):
    ProfileFactory(project=project, distinct_id="ann", properties={"$email": "ann@x.test", "n": 3})
    ProfileFactory(project=project, distinct_id="bob", properties={"$email": "", "n": 1})
    ProfileFactory(project=project, distinct_id="cy", properties={"plan": "pro"})
    ProfileFactory(project=project, distinct_id="42", properties={"$email": "num@x.test"})
    return project


def test_without_parameters_every_profile_in_distinct_id_order(client, people):
    response = engage_query(client, people)

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"page", "page_size", "session_id", "status", "total", "results"}
    assert body["status"] == "ok"
    assert body["page"] == 0
    assert body["page_size"] == 1000
    assert body["total"] == 4
    assert body["session_id"]
    assert body["results"] == [
        {"$distinct_id": "42", "$properties": {"$email": "num@x.test"}},
        {"$distinct_id": "ann", "$properties": {"$email": "ann@x.test", "n": 3}},
        {"$distinct_id": "bob", "$properties": {"$email": "", "n": 1}},
        {"$distinct_id": "cy", "$properties": {"plan": "pro"}},
    ]


@pytest.mark.parametrize("path", [ENGAGE, ENGAGE + "/", "/api/query/engage", "/api/query/engage/"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_get_and_post_with_and_without_a_trailing_slash(client, people, path, method):
    call = client.get if method == "get" else client.post
    response = call(
        path,
        {"where": 'properties["n"] > 2', "project_id": people.pk},
        headers={"authorization": basic("factory-secret")},
    )
    assert ids(response) == ["ann"]


def test_post_parameters_in_the_query_string_and_the_body(client, people):
    response = client.post(
        f"{ENGAGE}?project_id={people.pk}",
        {"distinct_id": "cy"},
        headers={"authorization": basic("factory-secret")},
    )
    assert ids(response) == ["cy"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"distinct_id": "bob"}, ["bob"]),
        ({"distinct_id": "nobody"}, []),
        ({"distinct_ids": ["cy", "ann", "nobody", "cy"]}, ["ann", "cy"]),
        ({"distinct_ids": [42, "bob"]}, ["42", "bob"]),  # ingestion stores numbers as text
        ({"distinct_ids": []}, []),
        ({"where": '(boolean(properties["$email"]) == true)'}, ["42", "ann"]),
        ({"where": 'properties["plan"] == "pro" or properties["n"] == 1'}, ["bob", "cy"]),
        ({"where": 'not defined(properties["$email"])'}, ["cy"]),
        # Given together, they narrow each other.
        (
            {"distinct_ids": ["ann", "bob", "cy"], "where": 'defined(properties["n"])'},
            ["ann", "bob"],
        ),
        ({"distinct_id": "cy", "where": 'defined(properties["n"])'}, []),
        # Parameters Mixpanel accepts that change nothing here.
        (
            {"include_all_users": "true", "as_of_timestamp": "1700000000"},
            ["42", "ann", "bob", "cy"],
        ),
        ({"where": "   "}, ["42", "ann", "bob", "cy"]),
    ],
)
def test_each_selecting_parameter(client, people, params, expected):
    response = engage_query(client, people, **params)
    assert ids(response) == expected
    assert response.json()["total"] == len(expected)


def test_output_properties_show_only_the_named_properties(client, people):
    response = engage_query(
        client, people, output_properties=["$email", "plan", "absent"], distinct_ids=["ann", "cy"]
    )
    assert response.json()["results"] == [
        {"$distinct_id": "ann", "$properties": {"$email": "ann@x.test"}},
        {"$distinct_id": "cy", "$properties": {"plan": "pro"}},
    ]
    # The where still sees every property.
    response = engage_query(
        client, people, output_properties=["plan"], where='properties["n"] == 3'
    )
    assert response.json()["results"] == [{"$distinct_id": "ann", "$properties": {}}]


@pytest.fixture
def crowd(project):
    """2,500 profiles in a project; every third has a plan. Ids sort in code-point order."""
    Profile.objects.bulk_create(
        ProfileFactory.build(
            project=project,
            distinct_id=f"user-{index:04}",
            properties={"index": index, **({"plan": "pro"} if index % 3 == 0 else {})},
        )
        for index in range(2500)
    )
    return project


def pages(client, project, **params) -> tuple[list[dict], list[str]]:
    """All pages as mixpanel-utils fetches them: page 0, then 1.. with its session_id and the
    same parameters."""
    first = engage_query(client, project, **params).json()
    bodies = [first]
    for page in range(1, -(-first["total"] // first["page_size"])):
        response = engage_query(
            client, project, session_id=first["session_id"], page=str(page), **params
        )
        assert response.status_code == HTTPStatus.OK, response.content
        bodies.append(response.json())
    return bodies, [result["$distinct_id"] for body in bodies for result in body["results"]]


def test_pages_of_1000_cover_a_selection_once_in_order(client, crowd):
    bodies, seen = pages(client, crowd)

    assert [(body["page"], len(body["results"]), body["total"]) for body in bodies] == [
        (0, 1000, 2500),
        (1, 1000, 2500),
        (2, 500, 2500),
    ]
    assert {body["session_id"] for body in bodies} == {bodies[0]["session_id"]}
    assert seen == [f"user-{index:04}" for index in range(2500)]


def test_pages_of_a_where_selection(client, crowd):
    bodies, seen = pages(client, crowd, where='properties["plan"] == "pro"')
    assert [len(body["results"]) for body in bodies] == [834]
    assert seen == [f"user-{index:04}" for index in range(0, 2500, 3)]
    bodies, seen = pages(client, crowd, where='properties["index"] >= 500')
    assert [len(body["results"]) for body in bodies] == [1000, 1000]
    assert seen == [f"user-{index:04}" for index in range(500, 2500)]


def test_a_page_past_the_end_is_empty(client, crowd):
    first = engage_query(client, crowd).json()
    response = engage_query(client, crowd, session_id=first["session_id"], page="3")
    assert response.json()["results"] == []
    assert response.json()["total"] == 2500


def test_a_session_keeps_later_pages_consistent_with_the_first(client, crowd):
    first = engage_query(client, crowd).json()
    # Profiles created after the first page would shift the pages: they are not in the session.
    ProfileFactory(project=crowd, distinct_id="user-0000a")
    ProfileFactory(project=crowd, distinct_id="aaa")

    second = engage_query(client, crowd, session_id=first["session_id"], page="1").json()

    assert second["total"] == 2500
    assert [result["$distinct_id"] for result in second["results"]] == [
        f"user-{index:04}" for index in range(1000, 2000)
    ]
    # A new query sees them.
    assert engage_query(client, crowd).json()["total"] == 2502


def test_a_profile_deleted_during_a_session_skips_no_other_and_shortens_no_page(client, crowd):
    first = engage_query(client, crowd).json()
    Profile.objects.filter(distinct_id__in=["user-0500", "user-1500"]).delete()

    second = engage_query(client, crowd, session_id=first["session_id"], page="1").json()
    third = engage_query(client, crowd, session_id=first["session_id"], page="2").json()

    # Page 1 still starts where it started and holds 1,000: it takes page 2's first profile,
    # which page 2 shows again.
    second_ids = [result["$distinct_id"] for result in second["results"]]
    assert second_ids == [f"user-{index:04}" for index in range(1000, 2001) if index != 1500]
    assert [result["$distinct_id"] for result in third["results"]] == [
        f"user-{index:04}" for index in range(2000, 2500)
    ]


@pytest.mark.parametrize("loss", ["evicted", "unavailable"])
def test_pages_are_right_when_the_cache_lost_their_starts(client, crowd, monkeypatch, loss):
    first = engage_query(client, crowd, where='properties["index"] >= 700').json()
    if loss == "evicted":
        cache.clear()
    else:

        def refuse(*args, **kwargs):
            raise RedisError("connection refused")

        monkeypatch.setattr(cache, "get", refuse)
        monkeypatch.setattr(cache, "set", refuse)

    second = engage_query(
        client, crowd, where='properties["index"] >= 700', session_id=first["session_id"], page="1"
    ).json()

    assert second["total"] == 1800
    assert [result["$distinct_id"] for result in second["results"]] == [
        f"user-{index:04}" for index in range(1700, 2500)
    ]


def test_a_page_without_a_session_is_answered_on_its_own(client, crowd):
    body = engage_query(client, crowd, page="2").json()
    assert (body["page"], body["total"], len(body["results"])) == (2, 2500, 500)
    assert body["results"][0]["$distinct_id"] == "user-2000"


@pytest.mark.parametrize(
    ("later", "error"),
    [
        (
            {"where": 'properties["plan"] == "basic"'},
            "session_id belongs to another query: send the first page's distinct_id, "
            "distinct_ids and where with it",
        ),
        ({"where": ""}, "session_id belongs to another query"),
        (
            {"distinct_id": "user-0003", "where": 'properties["plan"] == "pro"'},
            "session_id belongs to another query",
        ),
    ],
)
def test_a_session_serves_only_its_own_query(client, crowd, later, error):
    first = engage_query(client, crowd, where='properties["plan"] == "pro"').json()
    response = engage_query(client, crowd, session_id=first["session_id"], page="1", **later)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["status"] == "error"
    assert response.json()["error"].startswith(error)


def test_a_session_may_change_the_output_properties(client, crowd):
    first = engage_query(client, crowd).json()
    response = engage_query(
        client, crowd, session_id=first["session_id"], page="1", output_properties=["plan"]
    )
    assert response.json()["results"][:3] == [
        {"$distinct_id": "user-1000", "$properties": {}},
        {"$distinct_id": "user-1001", "$properties": {}},
        {"$distinct_id": "user-1002", "$properties": {"plan": "pro"}},
    ]


def test_a_session_expires(client, people):
    first = engage_query(client, people).json()
    with time_machine.travel(timezone.now() + SESSION_MAX_AGE + timedelta(seconds=5)):
        response = engage_query(client, people, session_id=first["session_id"], page="1")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {
        "status": "error",
        "error": "session_id has expired: query again from page 0",
    }


@pytest.mark.parametrize(
    "session_id",
    ["nonsense", "a" * 600, "é", "WzEsImFiYyIsMiwzXQ:1xYjKR:forged", " "],
)
def test_a_forged_or_broken_session_is_refused(client, people, session_id):
    response = engage_query(client, people, session_id=session_id, page="1")
    if not session_id.strip():
        assert response.status_code == HTTPStatus.OK  # no session given
        return
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"status": "error", "error": "session_id is not valid"}


def test_a_session_edited_to_name_another_total_is_refused(client, people):
    session_id = engage_query(client, people).json()["session_id"]
    payload, stamp, signature = session_id.split(":")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    response = engage_query(client, people, session_id=f"{forged}:{stamp}:{signature}", page="1")
    assert response.json() == {"status": "error", "error": "session_id is not valid"}


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"where": 'properties["a"] = 1'}, "where: use == to compare at character 17"),
        ({"where": 'properties["a"] in ["x"]'}, "where: the operator 'in' is not supported at"),
        (
            {"distinct_id": "a", "distinct_ids": '["b"]'},
            "give distinct_id or distinct_ids, not both",
        ),
        ({"distinct_ids": "ann"}, 'distinct_ids must be a JSON list, like ["a", "b"]'),
        ({"distinct_ids": '{"a": 1}'}, "distinct_ids must be a JSON list"),
        ({"distinct_ids": "[" * 10_000 + "]" * 10_000}, "distinct_ids must be a JSON list"),
        ({"distinct_ids": '["ann", null]'}, "distinct_ids[1] must be a non-empty string"),
        ({"distinct_ids": '["ann", ""]'}, "distinct_ids[1] must be a non-empty string"),
        ({"distinct_ids": "[true]"}, "distinct_ids[0] must be a non-empty string"),
        ({"distinct_ids": json.dumps(["x" * 256])}, "distinct_ids[0] is longer than 255"),
        ({"distinct_ids": '["a\\u0000b"]'}, "distinct_ids[0] holds a character that no"),
        ({"distinct_ids": '["\\ud800"]'}, "distinct_ids[0] holds a character that no"),
        (
            {"distinct_ids": json.dumps([str(n) for n in range(MAX_DISTINCT_IDS + 1)])},
            "distinct_ids holds more than 2,000 ids",
        ),
        ({"distinct_id": ""}, "distinct_id must be a non-empty string"),
        ({"distinct_ids": ""}, "distinct_ids must be a JSON list"),
        ({"distinct_id": "x" * 256}, "distinct_id is longer than 255 characters"),
        ({"distinct_id": "a\x00b"}, "distinct_id holds a character that no distinct_id can hold"),
        ({"output_properties": "$email"}, "output_properties must be a JSON list"),
        ({"output_properties": "[1]"}, "output_properties[0] must be a property name of at most"),
        ({"output_properties": json.dumps(["p"] * 1001)}, "output_properties names more than"),
        ({"page": "-1"}, "page must be a whole number from 0"),
        ({"page": "one"}, "page must be a whole number from 0"),
        ({"page": "1" * 5000}, "page must be a whole number from 0"),
        ({"page": "1000000001"}, "page must be a whole number from 0"),
        ({"behaviors": "[]"}, "behaviors (event-based selection) is not supported"),
        ({"filter_by_cohort": '{"id": 1}'}, "filter_by_cohort is not supported"),
        ({"data_group_id": "5"}, "data_group_id (group profiles) is not supported"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(client, people, params, error):
    before = list(Profile.objects.order_by("pk").values_list("distinct_id", "properties"))

    response = engage_query(client, people, **params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "error"
    assert body["error"].startswith(error), body
    assert set(body) == {"status", "error"}
    assert list(Profile.objects.order_by("pk").values_list("distinct_id", "properties")) == before


def test_two_thousand_distinct_ids_are_served(client, crowd):
    wanted = [f"user-{index:04}" for index in range(2500 - MAX_DISTINCT_IDS, 2500)]
    response = engage_query(client, crowd, method="post", distinct_ids=wanted[::-1])
    body = response.json()
    assert body["total"] == MAX_DISTINCT_IDS
    assert ids(response) == wanted[:1000]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_refused(client, people, method):
    response = getattr(client, method)(ENGAGE, headers={"authorization": basic("factory-secret")})
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "GET, POST"
    assert response.json() == {"status": "error", "error": "use GET or POST"}


def test_a_body_over_the_upload_limit_is_a_413(client, people, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(
        f"{ENGAGE}?project_id={people.pk}",
        {"distinct_ids": json.dumps(["x" * 200] * 10)},
        headers={"authorization": basic("factory-secret")},
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json() == {"status": "error", "error": "the request body is too large"}


def test_there_is_no_rate_limit(client, people):
    """Mixpanel's query API allows 60 queries an hour per project; this one sets no limit."""
    answers = [engage_query(client, people, distinct_id="ann") for _ in range(61)]

    assert {answer.status_code for answer in answers} == {HTTPStatus.OK}
    assert {tuple(ids(answer)) for answer in answers} == {("ann",)}


@pytest.mark.parametrize(
    "path", ["/api/2.0/jql", "/api/2.0/export", "/api/2.0/segmentation", "/api/2.0/engage/revenue"]
)
def test_mixpanel_apis_not_served_here_are_404(client, people, path):
    """mixpanel-utils' raw export, JQL and Mixpanel's other query APIs have no counterpart."""
    response = client.get(
        path, {"project_id": people.pk}, headers={"authorization": basic("factory-secret")}
    )

    assert response.status_code == HTTPStatus.NOT_FOUND
