"""The GDPR API with a service account (issue 13): `Authorization: Basic username:secret` as an
alternative to a person's Bearer token, in the same check order (401, 404, 403), for admin
accounts granted the project; rate limits and Idempotency-Keys of its own; nobody emailed."""

import base64
import json
from datetime import timedelta
from http import HTTPStatus
from types import SimpleNamespace

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.actors import OPERATOR
from accounts.models import Role, ServiceAccount, User
from accounts.service_accounts import service_account_revoke
from accounts.services import gdpr_token_reset
from privacy_requests.api.throttling import CreateRateThrottle
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from projects.services import project_create
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"
FORBIDDEN_SERVICE_ACCOUNT = {
    "status": "error",
    "error": (
        "Only service accounts with role admin that are granted this project can make its "
        "privacy requests."
    ),
}
UNAUTHORIZED = {
    "status": "error",
    "error": "Invalid, revoked or expired service account credentials.",
}


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


@pytest.fixture
def call(client, project, django_capture_on_commit_callbacks):
    def send(
        method, path, body=None, *, authorization, project_token=None, headers=None, run=False
    ):
        extra = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        query = f"?token={project.token if project_token is None else project_token}"
        with django_capture_on_commit_callbacks(execute=run):
            return getattr(client, method)(
                path + query,
                data=json.dumps(body) if body is not None else "",
                content_type="application/json",
                **extra,
            )

    return send


@pytest.fixture
def admin_account(make_service_account):
    account, secret = make_service_account("admin")
    return account, basic(account.username, secret)


def test_an_admin_service_account_submits_follows_and_cancels(call, project, admin_account):
    account, authorization = admin_account

    created = call("post", DELETIONS, {"distinct_ids": ["alice"]}, authorization=authorization)
    task_id = created.json()["results"]["task_id"]
    status = call("get", f"{DELETIONS}{task_id}", authorization=authorization)
    canceled = call("delete", f"{DELETIONS}{task_id}/", authorization=authorization)

    assert created.status_code == HTTPStatus.CREATED
    request = PrivacyRequest.objects.get(tracking_id=task_id)
    actor = f"api:service-account:{account.username}"
    assert (request.requested_by, request.requester, request.channel) == (actor, None, "api")
    assert status.status_code == HTTPStatus.OK
    assert status.json()["results"]["requesting_user"] == f"service-account:{account.username}"
    assert canceled.status_code == HTTPStatus.NO_CONTENT
    request.refresh_from_db()
    assert (request.status, request.canceled_by) == (Status.REVOKED, actor)
    entries = AuditEntry.objects.filter(request__isnull=False).order_by("seq")
    assert list(entries.values_list("action", "actor")) == [
        ("submitted", actor),
        ("canceled", actor),
    ]


def test_nobody_is_emailed_for_a_service_accounts_request(call, project, admin_account, owner):
    _, authorization = admin_account

    created = call(
        "post", RETRIEVALS, {"distinct_ids": ["alice"]}, authorization=authorization, run=True
    )

    request = PrivacyRequest.objects.get(tracking_id=created.json()["results"]["task_id"])
    assert request.status == Status.SUCCESS
    assert mail.outbox == []


@pytest.mark.parametrize("path", [RETRIEVALS, DELETIONS])
def test_a_member_service_account_is_403_and_creates_nothing(
    call, make_service_account, path, submit
):
    account, secret = make_service_account("member")
    task_id = submit(kind="export" if path == RETRIEVALS else "deletion").tracking_id
    authorization = basic(account.username, secret)

    answers = [
        call("post", path, {"distinct_ids": ["a"]}, authorization=authorization),
        call("get", f"{path}{task_id}", authorization=authorization),
        call("delete", f"{path}{task_id}", authorization=authorization),
    ]

    assert [answer.status_code for answer in answers] == [HTTPStatus.FORBIDDEN] * 3
    assert answers[0].json() == FORBIDDEN_SERVICE_ACCOUNT
    assert PrivacyRequest.objects.count() == 1
    assert PrivacyRequest.objects.get().status == Status.PENDING


def test_an_admin_account_not_granted_the_project_is_403(call, project, make_service_account):
    sibling = ProjectFactory(organization=project.organization)
    account, secret = make_service_account("admin", projects=[sibling])

    response = call(
        "post", RETRIEVALS, {"distinct_ids": ["a"]}, authorization=basic(account.username, secret)
    )

    assert (response.status_code, response.json()) == (
        HTTPStatus.FORBIDDEN,
        FORBIDDEN_SERVICE_ACCOUNT,
    )
    assert PrivacyRequest.objects.count() == 0


def test_another_organizations_admin_account_is_403_here_and_404_for_its_tasks(
    call, project, make_service_account, submit
):
    task_id = submit().tracking_id
    foreign_project = ProjectFactory()
    account, secret = make_service_account("admin", projects=[foreign_project])
    authorization = basic(account.username, secret)

    on_this_project = call("post", RETRIEVALS, {"distinct_ids": ["a"]}, authorization=authorization)
    task_via_own_project = call(
        "get",
        f"{RETRIEVALS}{task_id}",
        authorization=authorization,
        project_token=foreign_project.token,
    )

    assert on_this_project.status_code == HTTPStatus.FORBIDDEN
    assert task_via_own_project.status_code == HTTPStatus.NOT_FOUND
    assert PrivacyRequest.objects.count() == 1


def test_the_check_order_is_401_then_404_then_403(call, make_service_account, admin_account):
    _, good = admin_account
    member, member_secret = make_service_account("member")

    bad_credentials_unknown_project = call(
        "post", RETRIEVALS, {"distinct_ids": ["a"]}, authorization=good + "x", project_token="no"
    )
    member_unknown_project = call(
        "post",
        RETRIEVALS,
        {"distinct_ids": ["a"]},
        authorization=basic(member.username, member_secret),
        project_token="no",
    )
    member_unknown_task = call(
        "get", f"{RETRIEVALS}nope/", authorization=basic(member.username, member_secret)
    )

    assert bad_credentials_unknown_project.status_code == HTTPStatus.UNAUTHORIZED
    assert member_unknown_project.status_code == HTTPStatus.NOT_FOUND
    assert member_unknown_task.status_code == HTTPStatus.NOT_FOUND


def _hostile(username: str, secret: str) -> dict[str, str]:
    return {
        "wrong-secret": basic(username, secret + "x"),
        "unknown-username": basic("nobody.0000.sa", secret),
        "no-secret": basic(username, ""),
        "no-colon": "Basic " + base64.b64encode(username.encode()).decode(),
        "not-base64": "Basic %%%%",
        "not-utf8": "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(),
        "nul-in-username": basic(username + "\x00", secret),
        "three-parts": f"Basic {base64.b64encode(b'a:b').decode()} extra",
        "huge": "Basic " + "A" * 4000,
        "empty": "Basic ",
    }


@pytest.mark.parametrize(
    "case",
    [
        "wrong-secret",
        "unknown-username",
        "no-secret",
        "no-colon",
        "not-base64",
        "not-utf8",
        "nul-in-username",
        "three-parts",
        "huge",
        "empty",
    ],
)
def test_bad_credentials_are_401_with_the_api_shape(call, make_service_account, case):
    account, secret = make_service_account("admin")

    response = call(
        "post",
        RETRIEVALS,
        {"distinct_ids": ["a"]},
        authorization=_hostile(account.username, secret)[case],
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["status"] == "error"
    assert isinstance(response.json()["error"], str)
    assert PrivacyRequest.objects.count() == 0


def test_revocation_takes_effect_at_once(call, admin_account):
    account, authorization = admin_account
    first = call("post", RETRIEVALS, {"distinct_ids": ["a"]}, authorization=authorization)
    task_id = first.json()["results"]["task_id"]

    service_account_revoke(actor=OPERATOR, service_account=account)
    status = call("get", f"{RETRIEVALS}{task_id}", authorization=authorization)
    create = call("post", RETRIEVALS, {"distinct_ids": ["b"]}, authorization=authorization)

    assert first.status_code == HTTPStatus.CREATED
    assert (status.status_code, status.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert (create.status_code, create.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    assert PrivacyRequest.objects.count() == 1


def test_expiry_takes_effect_at_once(call, make_service_account):
    expires_at = timezone.now() + timedelta(days=1)
    account, secret = make_service_account("admin", expires_at=expires_at)
    authorization = basic(account.username, secret)

    with time_machine.travel(expires_at - timedelta(seconds=1), tick=False):
        before = call("post", RETRIEVALS, {"distinct_ids": ["a"]}, authorization=authorization)
    with time_machine.travel(expires_at, tick=False):
        after = call("post", RETRIEVALS, {"distinct_ids": ["b"]}, authorization=authorization)

    assert before.status_code == HTTPStatus.CREATED
    assert (after.status_code, after.json()) == (HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)


def test_each_service_account_and_each_person_has_its_own_rate_limit(
    call, project, make_service_account, admin_account, settings, monkeypatch
):
    settings.PRIVACY_API_RATES = {**settings.PRIVACY_API_RATES, "create": "1/s", "read": "10/s"}
    monkeypatch.setattr("config.rate_limits.local_clock", lambda: 2_000_000.5)
    first_account, first = admin_account
    second_account, second_secret = make_service_account("admin", name="second")
    owner = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    people = f"Bearer {gdpr_token_reset(user=owner)}"

    statuses = [
        call(
            "post", RETRIEVALS, {"distinct_ids": [str(n)]}, authorization=authorization
        ).status_code
        for n, authorization in enumerate(
            [first, first, basic(second_account.username, second_secret), people, people]
        )
    ]

    assert statuses == [201, 429, 201, 201, 429]
    assert PrivacyRequest.objects.count() == 3


def test_a_user_and_a_service_account_with_the_same_id_do_not_share_a_budget(settings):
    settings.PRIVACY_API_RATES = {**settings.PRIVACY_API_RATES, "create": "1/s", "read": "10/s"}
    throttle = CreateRateThrottle()

    user_first = throttle.allow_request(SimpleNamespace(user=User(id=7)), None)
    account_first = throttle.allow_request(SimpleNamespace(user=ServiceAccount(id=7)), None)
    user_again = throttle.allow_request(SimpleNamespace(user=User(id=7)), None)

    assert (user_first, account_first, user_again) == (True, True, False)


def test_idempotency_keys_belong_to_the_service_account(call, project, admin_account):
    owner = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    people = f"Bearer {gdpr_token_reset(user=owner)}"
    _, authorization = admin_account
    key = {"Idempotency-Key": "nightly-1"}

    by_account = call(
        "post", RETRIEVALS, {"distinct_ids": ["a"]}, authorization=authorization, headers=key
    )
    repeated = call(
        "post", RETRIEVALS, {"distinct_ids": ["a"]}, authorization=authorization, headers=key
    )
    by_person = call("post", RETRIEVALS, {"distinct_ids": ["a"]}, authorization=people, headers=key)

    assert by_account.json() == repeated.json()
    assert by_person.json()["results"]["task_id"] != by_account.json()["results"]["task_id"]
    assert PrivacyRequest.objects.count() == 2


def test_the_native_list_does_not_take_service_accounts(client, admin_account):
    """Not part of Mixpanel's API: people only, for now."""
    _, authorization = admin_account

    response = client.get("/api/requests/", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("password", ["", "x"])
def test_a_projects_api_secret_never_opens_the_gdpr_api(call, organization, password):
    project, secret = project_create(actor=OPERATOR, organization=organization, name="Web")

    response = call(
        "post",
        RETRIEVALS,
        {"distinct_ids": ["a"]},
        authorization=basic(secret, password),
        project_token=project.token,
    )

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert PrivacyRequest.objects.count() == 0
