"""A request's own callback_url (issue 19): accepted on API creates only under one of the
organization's registered endpoints that covers the project; its callbacks go there."""

import json
from http import HTTPStatus

import pytest

from accounts.actors import Actor
from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.callbacks.endpoints import callback_endpoint_create
from privacy_requests.models import CallbackDelivery, PrivacyRequest
from tests.callback_receiver import Receiver
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"


@pytest.fixture
def owner_user(project):
    return MembershipFactory(organization=project.organization, role=Role.OWNER).user


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def endpoint(project, owner_user, receiver):
    return callback_endpoint_create(
        actor=Actor(user=owner_user, via="web"),
        organization=project.organization,
        url=receiver.url + "/hooks/",
        events=["submitted"],
    )


@pytest.fixture
def create(client, project, owner_user, django_capture_on_commit_callbacks):
    token = gdpr_token_reset(user=owner_user)

    def create(body, path=RETRIEVALS):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"{path}?token={project.token}",
                data=json.dumps(body),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
            )

    return create


def test_a_callback_url_under_an_endpoint_receives_the_requests_callbacks(
    create, endpoint, receiver
):
    url = f"{receiver.url}/hooks/case-42?ticket=7"

    response = create({"distinct_ids": ["alice"], "callback_url": url})

    assert response.status_code == HTTPStatus.CREATED
    request = PrivacyRequest.objects.get(tracking_id=response.json()["results"]["task_id"])
    assert (request.callback_url, request.callback_endpoint_id) == (url, endpoint.id)
    assert [record["path"] for record in receiver.received] == ["/hooks/case-42?ticket=7"]
    assert CallbackDelivery.objects.get().url == url


@pytest.mark.parametrize(
    "suffix",
    [
        "{base}/other/",  # not under /hooks/
        "{base}.evil.test/hooks/",  # the host continued
        "https://hooks.example.com/hooks/",  # another host
        "{base_other_port}/hooks/",
    ],
)
def test_a_callback_url_outside_the_endpoints_is_refused(create, endpoint, receiver, suffix):
    url = suffix.format(base=receiver.url, base_other_port=f"http://127.0.0.1:{receiver.port + 1}")

    response = create({"distinct_ids": ["alice"], "callback_url": url}, path=DELETIONS)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert (
        "callback_url must start with the URL of one of the organization's"
        in (response.json()["error"])
    )
    assert PrivacyRequest.objects.count() == 0


def test_an_endpoint_of_another_project_does_not_admit_a_callback_url(
    create, project, owner_user, receiver
):
    callback_endpoint_create(
        actor=Actor(user=owner_user, via="web"),
        organization=project.organization,
        url=receiver.url + "/hooks/",
        events=["submitted"],
        project=ProjectFactory(organization=project.organization),
    )

    response = create({"distinct_ids": ["alice"], "callback_url": receiver.url + "/hooks/x"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert PrivacyRequest.objects.count() == 0


def test_an_overlong_or_nul_callback_url_is_refused_not_stored(create, endpoint, receiver):
    for url in (f"{receiver.url}/hooks/" + "a" * 500, f"{receiver.url}/hooks/\x00"):
        response = create({"distinct_ids": ["alice"], "callback_url": url})

        assert response.status_code == HTTPStatus.BAD_REQUEST
    assert PrivacyRequest.objects.count() == 0


def test_a_callback_url_that_is_not_a_string_is_refused(create, endpoint):
    response = create({"distinct_ids": ["alice"], "callback_url": ["x"]})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "callback_url must be a string."


def test_without_a_callback_url_the_endpoints_own_url_is_used(create, endpoint, receiver):
    response = create({"distinct_ids": ["alice"]})

    assert response.status_code == HTTPStatus.CREATED
    assert [record["path"] for record in receiver.received] == ["/hooks/"]


def test_an_idempotency_key_repeated_with_another_callback_url_is_refused(
    client, project, owner_user, endpoint, receiver
):
    token = gdpr_token_reset(user=owner_user)

    def create(callback_url):
        return client.post(
            f"{RETRIEVALS}?token={project.token}",
            data=json.dumps({"distinct_ids": ["alice"], "callback_url": callback_url}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY="ticket-1",
        )

    first = create(f"{receiver.url}/hooks/a")
    repeat = create(f"{receiver.url}/hooks/a")
    other = create(f"{receiver.url}/hooks/b")

    assert first.status_code == HTTPStatus.CREATED
    assert repeat.json() == first.json()
    assert other.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert PrivacyRequest.objects.count() == 1
