"""Which project a record lands in: the token in each record for /track, /engage and /groups;
the API secret in HTTP Basic for /import."""

import base64
from http import HTTPStatus

import pytest

from accounts.actors import OPERATOR
from accounts.tokens import token_hash
from projects.models import Event, GroupProfile, Profile
from projects.services import project_rotate_api_secret
from tests.factories import ProjectFactory
from tests.projects.ingestion_support import (
    API_SECRET,
    basic_auth,
    event,
    post_data,
    post_import,
    post_json,
)

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}
UNKNOWN_TOKEN = "'properties.token' is not a known project token"


def test_track_with_an_unknown_token_is_refused(client, project):
    verbose = post_data(client, "/track", event("not-a-token"), verbose=1)
    plain = post_data(client, "/track", event("not-a-token"))
    missing = post_data(client, "/track", event(None), verbose=1)

    assert (verbose.status_code, verbose.json()) == (
        HTTPStatus.BAD_REQUEST,
        {
            "status": 0,
            "error": f"1 of 1 records rejected, 0 accepted: record 0: {UNKNOWN_TOKEN}",
            "failed_records": [{"index": 0, "field": "properties.token", "message": UNKNOWN_TOKEN}],
        },
    )
    assert (plain.status_code, plain.content) == (HTTPStatus.BAD_REQUEST, b"0")
    missing_token = "'properties.token' is missing: the project token is required"
    assert missing.json() == {
        "status": 0,
        "error": f"1 of 1 records rejected, 0 accepted: record 0: {missing_token}",
        "failed_records": [{"index": 0, "field": "properties.token", "message": missing_token}],
    }
    assert Event.objects.count() == 0


def test_track_batch_lands_each_record_in_its_tokens_project(client, project):
    other = ProjectFactory()
    records = [
        event(project.token, distinct_id="alice"),
        event("not-a-token", distinct_id="mallory"),
        event(other.token, distinct_id="bob"),
    ]

    response = post_data(client, "/track", records, verbose=1)

    # Two records are valid: a success, naming the refused one.
    assert (response.status_code, response.json()) == (
        HTTPStatus.OK,
        {
            "status": 1,
            "error": None,
            "failed_records": [{"index": 1, "field": "properties.token", "message": UNKNOWN_TOKEN}],
        },
    )
    assert sorted(Event.objects.values_list("project_id", "distinct_id")) == sorted(
        [(project.pk, "alice"), (other.pk, "bob")]
    )


def test_engage_and_groups_with_an_unknown_token_change_nothing(client, project):
    engage = post_data(
        client, "/engage", {"$token": "nope", "$distinct_id": "alice", "$set": {"a": 1}}
    )
    groups = post_data(
        client,
        "/groups",
        {"$token": "nope", "$group_key": "company", "$group_id": "Acme", "$set": {"a": 1}},
    )

    assert (engage.status_code, engage.content) == (HTTPStatus.BAD_REQUEST, b"0")
    assert (groups.status_code, groups.content) == (HTTPStatus.BAD_REQUEST, b"0")
    assert Profile.objects.count() == 0
    assert GroupProfile.objects.count() == 0


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer " + API_SECRET,
        "Basic not-base64!",
        basic_auth("wrong-secret"),
        basic_auth(""),
        # user:password is a service account's form, and this is none.
        basic_auth(API_SECRET, "password"),
    ],
    ids=["missing", "bearer", "malformed", "wrong-secret", "empty", "not-a-service-account"],
)
def test_import_without_the_api_secret_is_401(client, project, authorization):
    headers = {} if authorization is None else {"authorization": authorization}

    response = post_json(client, "/import", [event(project.token)], query="?strict=1", **headers)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == UNAUTHORIZED
    assert response["Access-Control-Allow-Origin"] == "*"
    assert Event.objects.count() == 0


def test_import_with_another_projects_secret_stores_nothing_in_the_tokens_project(client, project):
    other = ProjectFactory()
    secret = project_rotate_api_secret(actor=OPERATOR, project=other)

    response = post_import(client, [event(project.token)], secret=secret)

    # The secret alone names its project (issue 13); a record naming another one is refused.
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert [failure["field"] for failure in response.json()["failed_records"]] == [
        "properties.token"
    ]
    assert Event.objects.count() == 0


def test_import_with_a_secret_that_predates_lookup_and_another_projects_token_is_401(
    client, project
):
    """A project whose secret has no lookup value yet is found only through ?project_id= or
    the records' tokens: the secret must then be that project's."""
    other = ProjectFactory(api_secret_hash=token_hash("other-legacy-secret"))

    response = post_import(client, [event(project.token)], secret="other-legacy-secret")

    assert other.api_secret_lookup is None
    assert (response.status_code, response.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert Event.objects.count() == 0


def test_import_with_a_rotated_secret_is_401(client, project):
    new_secret = project_rotate_api_secret(actor=OPERATOR, project=project)

    old = post_import(client, [event(project.token)])
    new = post_import(client, [event(project.token)], secret=new_secret)

    assert (old.status_code, old.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert (new.status_code, new.json()) == (
        HTTPStatus.OK,
        {"code": 200, "num_records_imported": 1, "status": "OK"},
    )


def test_import_names_the_project_by_project_id_when_records_carry_no_token(client, project):
    records = [event(None, distinct_id="alice")]

    by_id = post_import(client, records, query=f"?strict=1&project_id={project.pk}")
    no_project = post_import(client, records)
    bad_id = post_import(client, records, query="?project_id=12abc")

    assert (by_id.status_code, by_id.json()) == (
        HTTPStatus.OK,
        {"code": 200, "num_records_imported": 1, "status": "OK"},
    )
    assert (no_project.status_code, no_project.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert (bad_id.status_code, bad_id.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert list(Event.objects.values_list("project_id", "distinct_id")) == [(project.pk, "alice")]


def test_import_with_project_id_of_another_project_is_401(client, project):
    other = ProjectFactory()
    project_rotate_api_secret(actor=OPERATOR, project=other)

    response = post_import(client, [event(None)], query=f"?project_id={other.pk}")

    assert (response.status_code, response.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)


def test_import_refuses_records_of_another_projects_token(client, project):
    other = ProjectFactory()
    project_rotate_api_secret(actor=OPERATOR, project=other)
    records = [
        event(project.token, distinct_id="alice"),
        event(other.token, distinct_id="bob", **{"$insert_id": "bob-1"}),
    ]

    response = post_import(client, records)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [
            {
                "index": 1,
                "$insert_id": "bob-1",
                "field": "properties.token",
                "message": "'properties.token' does not match the project of the API secret",
            }
        ],
        "num_records_imported": 1,
        "status": "Bad Request",
    }
    assert list(Event.objects.values_list("project_id", "distinct_id")) == [(project.pk, "alice")]


def test_import_accepts_the_secret_as_user_with_no_colon(client, project):
    authorization = "Basic " + base64.b64encode(API_SECRET.encode()).decode()

    response = post_json(client, "/import", [event(project.token)], authorization=authorization)

    assert response.status_code == HTTPStatus.OK
    assert Event.objects.count() == 1


# A token with a NUL names no project; PostgreSQL refuses a NUL even in a lookup, so the check
# must come first (issue 15, finding 4). Run this file on PostgreSQL too.
NUL_TOKEN = "to\x00ken"


@pytest.mark.parametrize(
    ("path", "good", "bad", "stored"),
    [
        (
            "/track",
            lambda token: event(token, distinct_id="good"),
            event(NUL_TOKEN, distinct_id="bad"),
            lambda project: Event.objects.filter(project=project).count(),
        ),
        (
            "/engage",
            lambda token: {"$token": token, "$distinct_id": "good", "$set": {"a": 1}},
            {"$token": NUL_TOKEN, "$distinct_id": "bad", "$set": {"a": 1}},
            lambda project: Profile.objects.filter(project=project).count(),
        ),
        (
            "/groups",
            lambda token: {"$token": token, "$group_key": "k", "$group_id": "g", "$set": {"a": 1}},
            {"$token": NUL_TOKEN, "$group_key": "k", "$group_id": "h", "$set": {"a": 1}},
            lambda project: GroupProfile.objects.filter(project=project).count(),
        ),
    ],
)
def test_a_nul_in_a_token_refuses_that_record_and_keeps_the_others(
    client, project, path, good, bad, stored
):
    response = post_data(client, path, [good(project.token), bad], verbose="1")

    assert response.status_code == HTTPStatus.OK
    assert [failure["index"] for failure in response.json()["failed_records"]] == [1]
    assert stored(project) == 1


def test_an_import_whose_records_carry_a_nul_token_is_refused_not_a_500(client, project):
    response = post_import(client, [event(NUL_TOKEN)])

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == UNAUTHORIZED
    assert Event.objects.count() == 0
