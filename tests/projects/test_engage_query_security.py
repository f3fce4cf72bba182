"""Who can read profiles through the engage query: only the holder of the project's API secret.
No credentials, wrong ones, the public token, a person's session, another organization's secret
or project: 401 and nothing of anyone's profiles. Hostile input is a 400, never a 500."""

import base64
import json
from http import HTTPStatus
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.actors import Actor
from accounts.tokens import token_hash, token_lookup
from projects.services import project_rotate_api_secret
from tests.factories import OrganizationFactory, ProfileFactory, ProjectFactory
from tests.projects.engage_query_support import API_SECRET, ENGAGE, basic, engage_query

UNAUTHORIZED = {"status": "error", "error": "Invalid credentials"}


@pytest.fixture
def ours(project):
    # As issued by project_create: the secret's lookup value finds the project from it alone.
    project.api_secret_lookup = token_lookup(API_SECRET)
    project.save(update_fields=["api_secret_lookup"])
    ProfileFactory(project=project, distinct_id="alice", properties={"$email": "a@ours.test"})
    ProfileFactory(project=project, distinct_id="shared", properties={"$email": "s@ours.test"})
    return project


@pytest.fixture
def theirs(db):
    """Another organization's project, with its own secret and profiles, one of them under a
    distinct_id that is also ours."""
    project = ProjectFactory(
        organization=OrganizationFactory(), api_secret_hash=token_hash("their-secret")
    )
    ProfileFactory(project=project, distinct_id="mallory", properties={"$email": "m@them.test"})
    ProfileFactory(project=project, distinct_id="shared", properties={"$email": "s@them.test"})
    return project


def assert_unauthorized(response):
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Basic realm="Mixpanel"'


def test_the_secret_opens_only_its_project(client, ours, theirs):
    response = engage_query(client, ours, where="true")
    assert response.json()["results"] == [
        {"$distinct_id": "alice", "$properties": {"$email": "a@ours.test"}},
        {"$distinct_id": "shared", "$properties": {"$email": "s@ours.test"}},
    ]
    response = engage_query(client, theirs, secret="their-secret", distinct_id="shared")
    assert response.json()["results"] == [
        {"$distinct_id": "shared", "$properties": {"$email": "s@them.test"}}
    ]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic",
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
        basic("wrong-secret"),
        basic(""),
        basic("", API_SECRET),  # the secret as password
        basic(API_SECRET, "x"),  # user:secret is a service account, not this secret
        basic(API_SECRET.upper()),
        basic(API_SECRET + " "),
        "Bearer " + API_SECRET,
        API_SECRET,
    ],
)
def test_missing_or_wrong_credentials_are_a_401(client, ours, authorization):
    headers = {} if authorization is None else {"authorization": authorization}
    response = client.get(ENGAGE, {"project_id": ours.pk, "where": "true"}, headers=headers)
    assert_unauthorized(response)


def test_the_public_project_token_is_not_a_secret(client, ours):
    assert_unauthorized(engage_query(client, ours, secret=ours.token))


def test_another_organizations_project_id_is_a_401(client, ours, theirs):
    # Our secret with their project, and their secret with ours.
    assert_unauthorized(engage_query(client, theirs, where="true"))
    assert_unauthorized(engage_query(client, ours, secret="their-secret", where="true"))


def test_a_project_of_the_same_organization_needs_its_own_secret(client, ours):
    sibling = ProjectFactory(
        organization=ours.organization, api_secret_hash=token_hash("sibling-secret")
    )
    ProfileFactory(project=sibling, distinct_id="sib")
    assert_unauthorized(engage_query(client, sibling))
    assert [r["$distinct_id"] for r in engage_query(client, ours).json()["results"]] == [
        "alice",
        "shared",
    ]


@pytest.mark.parametrize("project_id", ["abc", "-1", "0", "1" * 30, "1\x00", "１", "1.0"])
def test_a_malformed_or_unknown_project_id_is_a_401(client, ours, project_id):
    response = client.get(
        ENGAGE, {"project_id": project_id}, headers={"authorization": basic(API_SECRET)}
    )
    assert_unauthorized(response)


def test_the_secret_alone_names_the_project(client, ours):
    response = client.get(ENGAGE, headers={"authorization": basic(API_SECRET)})
    assert response.status_code == HTTPStatus.OK
    assert response.json()["total"] == 2


def test_a_rotated_secret_stops_working_at_once(client, ours, owner):
    project_rotate_api_secret(actor=Actor(user=owner, via="web"), project=ours)
    assert_unauthorized(engage_query(client, ours))


def test_a_signed_in_owner_without_the_secret_is_a_401(client, ours, owner):
    client.force_login(owner)
    assert_unauthorized(client.get(ENGAGE, {"project_id": ours.pk}))


def test_another_projects_session_is_refused(client, ours, theirs):
    their_session = engage_query(client, theirs, secret="their-secret").json()["session_id"]
    response = engage_query(client, ours, session_id=their_session, page="0")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"status": "error", "error": "session_id is not valid"}


def test_a_401_comes_before_a_bad_parameter(client, theirs):
    response = client.get(
        ENGAGE,
        {"project_id": theirs.pk, "where": "((("},
        headers={"authorization": basic(API_SECRET)},
    )
    assert_unauthorized(response)


PARAMETER_NAMES = [
    "where",
    "distinct_id",
    "distinct_ids",
    "output_properties",
    "page",
    "session_id",
    "project_id",
    "behaviors",
]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.dictionaries(
        st.sampled_from(PARAMETER_NAMES),
        st.one_of(
            st.text(max_size=60),
            st.lists(st.one_of(st.text(max_size=5), st.integers(), st.none())).map(json.dumps),
            st.sampled_from(['properties["$email"] == "a@ours.test"', "[]", "0", "1", "-1"]),
        ),
    ),
    method=st.sampled_from(["get", "post"]),
)
def test_hostile_parameters_are_answered_200_or_400(client, ours, params, method):
    params.setdefault("project_id", str(ours.pk))
    call = client.get if method == "get" else client.post
    response = call(ENGAGE, params, headers={"authorization": basic(API_SECRET)})
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)
    body = response.json()
    if response.status_code == HTTPStatus.OK:
        assert {r["$distinct_id"] for r in body["results"]} <= {"alice", "shared"}
        assert "them.test" not in response.content.decode()
    else:
        assert body["status"] == "error"


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=st.binary(max_size=200))
def test_hostile_query_strings_are_never_a_500(client, ours, theirs, raw):
    query = f"project_id={ours.pk}&where=" + quote_from_bytes(raw)
    response = client.get(f"{ENGAGE}?{query}", headers={"authorization": basic(API_SECRET)})
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST)
    assert "them.test" not in response.content.decode()
    # And as a raw form body.
    response = client.post(
        f"{ENGAGE}?project_id={ours.pk}",
        b"where=" + raw,
        content_type="application/x-www-form-urlencoded",
        headers={"authorization": basic(API_SECRET)},
    )
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST)


@pytest.mark.parametrize("role", ["admin", "member"])
def test_a_service_account_granted_the_project_reads_its_profiles(
    client, ours, make_service_account, role
):
    account, secret = make_service_account(role)

    response = client.get(
        ENGAGE,
        {"project_id": str(ours.id)},
        headers={"authorization": basic(account.username, secret)},
    )

    assert response.status_code == HTTPStatus.OK
    assert sorted(row["$distinct_id"] for row in response.json()["results"]) == ["alice", "shared"]


def test_a_service_account_reads_no_project_it_is_not_granted(
    client, ours, theirs, make_service_account
):
    account, secret = make_service_account("admin", projects=[ours])

    for project_id in (theirs.id, ""):
        response = client.get(
            ENGAGE,
            {"project_id": str(project_id)},
            headers={"authorization": basic(account.username, secret)},
        )
        assert_unauthorized(response)
