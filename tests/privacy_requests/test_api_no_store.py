"""GDPR API answers are never stored by a cache (issue 15, finding 10): a status answer carries a
signed download link, a bearer credential, and the subject's distinct_ids."""

from http import HTTPStatus

import pytest

from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.models import Status
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"


@pytest.fixture
def call(client, project, django_capture_on_commit_callbacks):
    user = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    headers = {"HTTP_AUTHORIZATION": f"Bearer {gdpr_token_reset(user=user)}"}

    def send(method: str, path: str, body: dict | None = None, *, run: bool = False):
        with django_capture_on_commit_callbacks(execute=run):
            return getattr(client, method)(
                f"{path}?token={project.token}",
                data=body or {},
                content_type="application/json",
                **headers,
            )

    return send


@pytest.mark.parametrize("path", [RETRIEVALS, DELETIONS])
def test_a_status_with_a_signed_link_is_no_store(call, path):
    created = call("post", path, {"distinct_ids": ["alice"]}, run=True)
    assert created["Cache-Control"] == "no-store"
    task_id = created.json()["results"]["task_id"]

    response = call("get", f"{path}{task_id}/")

    assert response.status_code == HTTPStatus.OK
    results = response.json()["results"]
    assert results["status"] == Status.SUCCESS
    assert "/downloads/" in results["result"]
    assert response["Cache-Control"] == "no-store"


def test_errors_and_the_request_list_are_no_store_too(call):
    assert call("get", f"{RETRIEVALS}nope/")["Cache-Control"] == "no-store"  # 404
    listed = call("get", "/api/requests/")
    assert listed.status_code == HTTPStatus.OK
    assert listed["Cache-Control"] == "no-store"
