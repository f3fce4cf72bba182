"""Issue 18: the API's end-user lookup, for the GDPR API's principals under its rules: 401 for
no or bad credentials, 404 for an unknown project token, 403 for anyone who may not make the
project's privacy requests, the read rate limit, Mixpanel's error shape; each lookup audited."""

import base64
import json
from http import HTTPStatus

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.models import AuditAction, AuditEntry
from projects.identity import LinkRequest, identity_links_apply
from projects.models import IdentityKind, Profile
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

LOOKUP = "/api/app/end-user-lookup/"


def profile(project, distinct_id, **properties):
    return Profile.objects.create(
        project=project, distinct_id=distinct_id, properties=properties, updated_at=timezone.now()
    )


@pytest.fixture
def jane(project):
    profile(project, "user-jane", **{"$email": "jane@example.com"})
    profile(project, "user-janet", **{"$email": "janet@example.com"})
    identity_links_apply(
        project=project, links=[LinkRequest("jane-alias", "user-jane", IdentityKind.ALIAS)]
    )


def token_for(organization, role) -> str:
    return gdpr_token_reset(user=MembershipFactory(organization=organization, role=role).user)


def call(client, *, token, project_token, params=None, body=None, basic=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if basic:
        headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(basic.encode()).decode()}
    if body is not None:
        url = f"{LOOKUP}?token={project_token}"
        return client.post(url, data=json.dumps(body), content_type="application/json", **headers)
    return client.get(LOOKUP, {"token": project_token, **(params or {})}, **headers)


def lookups() -> int:
    return AuditEntry.objects.filter(action=AuditAction.END_USER_LOOKED_UP).count()


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_get_the_ids_behind_an_email(client, project, jane, role):
    token = token_for(project.organization, role)

    response = call(
        client,
        token=token,
        project_token=project.token,
        params={"property": "$email", "value": "JANE@example.com"},
    )

    assert response.status_code == HTTPStatus.OK
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "status": "ok",
        "results": {
            "distinct_ids": ["user-jane"],
            "more": False,
            "people": [
                {
                    "distinct_ids": ["user-jane"],
                    "reached_distinct_ids": ["user-jane", "jane-alias"],
                    "not_followed_distinct_ids": [],
                    "events": 0,
                    "profiles": 1,
                    "first_seen": None,
                    "last_seen": None,
                }
            ],
        },
    }
    entry = AuditEntry.objects.get(action=AuditAction.END_USER_LOOKED_UP)
    assert entry.actor.startswith("api:")
    assert (entry.detail["searched"], entry.detail["matched"]) == ("$email", 1)


def test_a_json_body_and_a_prefix(client, project, jane):
    token = token_for(project.organization, Role.OWNER)

    response = call(
        client, token=token, project_token=project.token, body={"distinct_id_prefix": "user-jan"}
    )

    assert response.status_code == HTTPStatus.OK
    assert response.json()["results"]["distinct_ids"] == ["user-jane", "user-janet"]
    assert lookups() == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "property is required (with value), or give distinct_id_prefix."),
        ({"property": "$email"}, "Enter a value to search for."),
        (
            {"property": "$email", "value": "a", "distinct_id_prefix": "b"},
            "Give either property and value, or distinct_id_prefix, not both.",
        ),
        ({"property": "$email", "value": "x" * 256}, "A value is at most 255 characters."),
        ({"distinct_id_prefix": "a\x00"}, "A distinct_id cannot contain that character."),
    ],
)
def test_bad_parameters_are_400_in_mixpanels_shape(client, project, params, message):
    token = token_for(project.organization, Role.OWNER)

    response = call(client, token=token, project_token=project.token, params=params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"status": "error", "error": message}
    assert lookups() == 0


def test_a_body_that_is_not_an_object_or_holds_no_strings_is_400(client, project):
    token = token_for(project.organization, Role.OWNER)

    for body in (["$email"], {"property": "$email", "value": 42}):
        response = call(client, token=token, project_token=project.token, body=body)
        assert response.status_code == HTTPStatus.BAD_REQUEST
    assert lookups() == 0


def test_members_get_403_and_read_nothing(client, project, jane):
    token = token_for(project.organization, Role.MEMBER)

    response = call(
        client,
        token=token,
        project_token=project.token,
        params={"property": "$email", "value": "jane@example.com"},
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "user-jane" not in response.content.decode()
    assert lookups() == 0


def test_another_organizations_owner_gets_403_and_their_token_names_their_project(
    client, project, jane
):
    theirs = ProjectFactory()
    profile(theirs, "their-jane", **{"$email": "jane@example.com"})
    their_token = token_for(theirs.organization, Role.OWNER)
    wanted = {"property": "$email", "value": "jane@example.com"}

    ours = call(client, token=their_token, project_token=project.token, params=wanted)
    own = call(client, token=their_token, project_token=theirs.token, params=wanted)

    assert ours.status_code == HTTPStatus.FORBIDDEN
    assert "user-jane" not in ours.content.decode()
    assert own.json()["results"]["distinct_ids"] == ["their-jane"]
    entry = AuditEntry.objects.get(action=AuditAction.END_USER_LOOKED_UP)
    assert entry.organization_id == theirs.organization_id


@pytest.mark.parametrize("token", ["", "not-a-token", "gdpr_" + "x" * 43])
def test_no_or_bad_token_is_401(client, project, jane, token):
    response = call(
        client,
        token=token,
        project_token=project.token,
        params={"property": "$email", "value": "jane@example.com"},
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["status"] == "error"
    assert lookups() == 0


def test_an_unknown_project_token_is_404(client, project):
    token = token_for(project.organization, Role.OWNER)

    response = call(client, token=token, project_token="nope", params={"property": "$email"})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"status": "error", "error": "NOT_FOUND"}


def test_service_accounts_need_role_admin(client, project, jane, make_service_account):
    admin, admin_secret = make_service_account("admin")
    member, member_secret = make_service_account("member", name="member bot")
    wanted = {"property": "$email", "value": "jane@example.com"}

    allowed = call(
        client, token=None, project_token=project.token, params=wanted,
        basic=f"{admin.username}:{admin_secret}",
    )  # fmt: skip
    refused = call(
        client, token=None, project_token=project.token, params=wanted,
        basic=f"{member.username}:{member_secret}",
    )  # fmt: skip

    assert allowed.json()["results"]["distinct_ids"] == ["user-jane"]
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert AuditEntry.objects.get(action=AuditAction.END_USER_LOOKED_UP).actor == (
        f"api:service-account:{admin.username}"
    )


@override_settings(PRIVACY_API_RATES={"create": "1/s", "read": "2/s", "auth_failure": "100/m"})
def test_lookups_spend_the_read_rate_limit(client, project, jane):
    token = token_for(project.organization, Role.OWNER)
    wanted = {"property": "$email", "value": "jane@example.com"}

    answers = [
        call(client, token=token, project_token=project.token, params=wanted).status_code,
        call(client, token=token, project_token=project.token, body=wanted).status_code,
        call(client, token=token, project_token=project.token, params=wanted).status_code,
    ]

    assert answers == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]
    assert lookups() == 2
