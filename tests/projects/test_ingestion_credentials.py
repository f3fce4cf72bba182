"""/import authenticated as Mixpanel authenticates it (issue 13): the project's API secret alone
finds its project through a keyed lookup value, and an organization's service accounts import
with `username:secret` and `?project_id=` into the projects they are granted."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.utils import timezone

from accounts.actors import OPERATOR
from accounts.models import ServiceAccount
from accounts.service_accounts import service_account_revoke
from accounts.tokens import token_hash
from projects.ingestion.authentication import ingestion_authenticate
from projects.models import Event, Project
from projects.services import project_create, project_rotate_api_secret
from tests.factories import ProjectFactory
from tests.projects.ingestion_support import basic_auth, event, post_json, stored_events

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}
IMPORTED_2 = {"code": 200, "num_records_imported": 2, "status": "OK"}
# The example body of Mixpanel's "Import Events" reference, verbatim: no token in any record.
DOCUMENTED_BODY = """[
  {"event": "Signup", "properties": {"time": 1618716477000,"distinct_id": "91304156-cafc-4673-a237-623d1129c801","$insert_id": "29fc2962-6d9c-455d-95ad-95b84f09b9e4","Referred by": "Friend","URL": "mixpanel.com/signup"}},
  {"event": "Purchase", "properties": {"time": 1618716477000,"distinct_id": "91304156-cafc-4673-a237-623d1129c801","$insert_id": "935d87b1-00cd-41b7-be34-b9d98dd08b42","Item": "Coffee", "Amount": 5.0}}
]"""  # noqa: E501
DOCUMENTED_ROWS = [
    (
        "91304156-cafc-4673-a237-623d1129c801",
        "Purchase",
        "935d87b1-00cd-41b7-be34-b9d98dd08b42",
        {"Item": "Coffee", "Amount": 5.0},
    ),
    (
        "91304156-cafc-4673-a237-623d1129c801",
        "Signup",
        "29fc2962-6d9c-455d-95ad-95b84f09b9e4",
        {"Referred by": "Friend", "URL": "mixpanel.com/signup"},
    ),
]


def _documented_import(client, authorization: str, query: str = "?strict=1"):
    return client.post(
        "/import" + query,
        DOCUMENTED_BODY,
        content_type="application/json",
        headers={"authorization": authorization},
    )


def _stored(project=None) -> list[tuple]:
    return [
        (distinct_id, name, insert_id, properties)
        for distinct_id, name, _, insert_id, properties in stored_events(
            None if project is None else project.pk
        )
    ]


@pytest.fixture
def issued(organization):
    """A project created as the web page and createorg create one, with its secret."""
    return project_create(actor=OPERATOR, organization=organization, name="Web")


# The project's API secret alone ------------------------------------------------------------


def test_the_documented_import_body_with_only_the_secret_is_stored(client, issued):
    project, secret = issued
    ProjectFactory()  # another project, which the secret must not reach

    response = _documented_import(client, basic_auth(secret))

    assert (response.status_code, response.json()) == (HTTPStatus.OK, IMPORTED_2)
    assert _stored(project) == DOCUMENTED_ROWS
    assert Event.objects.exclude(project=project).count() == 0


def test_a_rotated_secret_alone_finds_its_project_and_the_old_one_nothing(client, issued):
    project, old_secret = issued
    new_secret = project_rotate_api_secret(actor=OPERATOR, project=project)

    old = _documented_import(client, basic_auth(old_secret))
    new = _documented_import(client, basic_auth(new_secret))

    assert (old.status_code, old.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert (new.status_code, new.json()) == (HTTPStatus.OK, IMPORTED_2)
    assert _stored(project) == DOCUMENTED_ROWS


def test_the_lookup_value_is_an_hmac_under_the_server_key_never_the_secret(issued, settings):
    project, secret = issued
    project.refresh_from_db()

    expected = hmac.new(
        settings.PRIVACY_LOOKUP_KEY.encode(), secret.encode(), hashlib.sha256
    ).hexdigest()
    assert project.api_secret_lookup == expected
    assert project.api_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(list(Project.objects.values()), default=str)


def test_another_lookup_key_finds_nothing_until_the_secret_is_rotated(client, issued, settings):
    project, secret = issued
    settings.PRIVACY_LOOKUP_KEY = "another-key"

    alone = _documented_import(client, basic_auth(secret))
    named = _documented_import(client, basic_auth(secret), query=f"?project_id={project.pk}")

    assert (alone.status_code, alone.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert (named.status_code, named.json()) == (HTTPStatus.OK, IMPORTED_2)


def test_a_secret_that_predates_lookup_values_needs_project_id_or_tokens(client, project):
    """Projects whose secret was issued before lookup values existed keep working as before."""
    assert project.api_secret_lookup is None
    secret = "factory-secret"  # tests/factories.py

    alone = _documented_import(client, basic_auth(secret))
    named = _documented_import(client, basic_auth(secret), query=f"?project_id={project.pk}")
    tokened = post_json(
        client,
        "/import",
        [event(project.token, distinct_id="bob")],
        query="?strict=1",
        authorization=basic_auth(secret),
    )

    assert (alone.status_code, alone.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert (named.status_code, tokened.status_code) == (HTTPStatus.OK, HTTPStatus.OK)
    assert sorted({row[0] for row in _stored(project)}) == [
        "91304156-cafc-4673-a237-623d1129c801",
        "bob",
    ]


def test_the_secret_alone_finds_its_project_in_one_indexed_query(
    rf, issued, django_assert_num_queries
):
    project, secret = issued
    request = rf.post("/import", HTTP_AUTHORIZATION=basic_auth(secret))

    with django_assert_num_queries(1) as captured:
        authenticated = ingestion_authenticate(request=request)

    assert authenticated is not None
    assert (authenticated.project, authenticated.service_account) == (project, None)
    assert authenticated.principal == "project-secret"
    assert "api_secret_lookup" in captured.captured_queries[0]["sql"]


@pytest.mark.parametrize(
    "authorization",
    [
        basic_auth("\x00"),
        basic_auth("a\x00b"),
        basic_auth("s" * 10_000),
        "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
        "Basic " + base64.b64encode("é".encode("latin-1")).decode(),
        "Basic " + "A" * 5000,
        "Basic =",
        "Basic",
    ],
    ids=["nul", "inner-nul", "10k", "not-utf8", "latin1", "garbage", "padding", "empty"],
)
def test_hostile_secrets_are_401_and_store_nothing(client, issued, authorization):
    response = _documented_import(client, authorization)

    assert (response.status_code, response.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert Event.objects.count() == 0


# Service accounts ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member"])
def test_a_service_account_imports_into_a_granted_project(
    client, issued, make_service_account, role
):
    project, _ = issued
    account, secret = make_service_account(role, projects=[project])

    response = _documented_import(
        client, basic_auth(account.username, secret), query=f"?strict=1&project_id={project.pk}"
    )

    assert (response.status_code, response.json()) == (HTTPStatus.OK, IMPORTED_2)
    assert _stored(project) == DOCUMENTED_ROWS
    account.refresh_from_db()
    assert account.last_used_at is not None


def _refusals(organization, project, account, secret):
    other_project_here = ProjectFactory(organization=organization)
    other_organization_project = ProjectFactory()
    return {
        "no-project-id": (basic_auth(account.username, secret), "?strict=1"),
        "bad-project-id": (basic_auth(account.username, secret), "?project_id=1e3"),
        "unknown-project": (basic_auth(account.username, secret), "?project_id=99999999"),
        "not-granted": (
            basic_auth(account.username, secret),
            f"?project_id={other_project_here.pk}",
        ),
        "other-organization": (
            basic_auth(account.username, secret),
            f"?project_id={other_organization_project.pk}",
        ),
        "wrong-secret": (basic_auth(account.username, secret + "x"), f"?project_id={project.pk}"),
        "unknown-username": (basic_auth("nobody.0000.sa", secret), f"?project_id={project.pk}"),
        "secret-as-username": (basic_auth(secret, secret), f"?project_id={project.pk}"),
        "nul-in-username": (
            basic_auth(account.username + "\x00", secret),
            f"?project_id={project.pk}",
        ),
        "long-username": (basic_auth("u" * 5000, secret), f"?project_id={project.pk}"),
    }


REFUSALS = [
    "no-project-id",
    "bad-project-id",
    "unknown-project",
    "not-granted",
    "other-organization",
    "wrong-secret",
    "unknown-username",
    "secret-as-username",
    "nul-in-username",
    "long-username",
]


@pytest.mark.parametrize("case", REFUSALS)
def test_service_account_refusals_are_401_and_store_nothing(
    client, organization, issued, make_service_account, case
):
    project, _ = issued
    account, secret = make_service_account("admin", projects=[project])
    authorization, query = _refusals(organization, project, account, secret)[case]

    response = _documented_import(client, authorization, query=query)

    assert (response.status_code, response.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert Event.objects.count() == 0


def test_a_revoked_service_account_is_refused_at_once(client, issued, make_service_account):
    project, _ = issued
    account, secret = make_service_account("member", projects=[project])
    authorization, query = basic_auth(account.username, secret), f"?project_id={project.pk}"
    before = _documented_import(client, authorization, query=query)

    service_account_revoke(actor=OPERATOR, service_account=account)
    after = _documented_import(client, authorization, query=query)

    assert before.status_code == HTTPStatus.OK
    assert (after.status_code, after.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert Event.objects.count() == 2


def test_an_expired_service_account_is_refused_from_its_expiry(
    client, issued, make_service_account
):
    project, _ = issued
    expires_at = timezone.now() + timedelta(days=30)
    account, secret = make_service_account("member", projects=[project], expires_at=expires_at)
    authorization, query = basic_auth(account.username, secret), f"?project_id={project.pk}"

    with time_machine.travel(expires_at - timedelta(seconds=1), tick=False):
        before = _documented_import(client, authorization, query=query)
    with time_machine.travel(expires_at, tick=False):
        after = _documented_import(client, authorization, query=query)

    assert before.status_code == HTTPStatus.OK
    assert (after.status_code, after.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)


def test_a_service_account_cannot_import_records_of_another_project(
    client, issued, make_service_account
):
    project, _ = issued
    other = ProjectFactory(organization=project.organization)
    account, secret = make_service_account("admin", projects=[project])

    response = post_json(
        client,
        "/import",
        [event(other.token, distinct_id="bob")],
        query=f"?strict=1&project_id={project.pk}",
        authorization=basic_auth(account.username, secret),
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert [failure["field"] for failure in response.json()["failed_records"]] == [
        "properties.token"
    ]
    assert Event.objects.count() == 0


def test_last_used_is_written_at_most_once_a_minute(client, issued, make_service_account):
    project, _ = issued
    account, secret = make_service_account("member", projects=[project])
    authorization, query = basic_auth(account.username, secret), f"?project_id={project.pk}"
    start = timezone.now()

    seen = []
    for offset in (0, 30, 59, 61):
        with time_machine.travel(start + timedelta(seconds=offset), tick=False):
            _documented_import(client, authorization, query=query)
        seen.append(ServiceAccount.objects.get(id=account.id).last_used_at)

    assert seen == [start, start, start, start + timedelta(seconds=61)]


def test_a_service_accounts_secret_is_stored_only_as_its_hash(make_service_account):
    account, secret = make_service_account("member")

    assert account.secret_hash == token_hash(secret)
    assert secret not in json.dumps(list(ServiceAccount.objects.values()), default=str)
