"""Without SITE_URL, a request's emails link to the site it was submitted through (recorded
from the web page or API call, checked against ALLOWED_HOSTS)."""

import json
import re
from http import HTTPStatus

import pytest
from django.core import mail

from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.models import PrivacyRequest, Status
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

SITE = "privacy.example.com"


@pytest.fixture(autouse=True)
def no_site_url(settings):
    settings.SITE_URL = ""
    settings.ALLOWED_HOSTS = [SITE, "testserver"]


@pytest.fixture
def owner(project):
    return MembershipFactory(organization=project.organization, role=Role.OWNER).user


def emailed_links() -> list[str]:
    return [link for message in mail.outbox for link in re.findall(r"https?://\S+", message.body)]


def page_link(base: str, request: PrivacyRequest) -> str:
    return f"{base}/orgs/{request.organization_id}/privacy/{request.tracking_id}/"


def test_an_export_submitted_on_the_web_page_emails_a_link_to_that_site(
    client, owner, project, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    preview = client.post(
        f"/orgs/{project.organization_id}/privacy/export/",
        {"compliance": "GDPR", "project": project.id, "ids_from": "one", "distinct_id": "a"},
        headers={"host": SITE},
        secure=True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            preview["Location"], {"action": "submit"}, headers={"host": SITE}, secure=True
        )

    assert response.status_code == HTTPStatus.FOUND
    request = PrivacyRequest.objects.get()
    assert request.site_url == f"https://{SITE}"
    assert request.status == Status.SUCCESS
    assert emailed_links() == [page_link(f"https://{SITE}", request)]


def test_a_deletion_submitted_through_the_api_emails_a_link_to_that_site(
    client, owner, project, django_capture_on_commit_callbacks
):
    token = gdpr_token_reset(user=owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/app/data-deletions/v3.0/?token={project.token}",
            data=json.dumps({"distinct_ids": ["a"]}),
            content_type="application/json",
            headers={"host": SITE, "authorization": f"Bearer {token}"},
        )

    assert response.status_code == HTTPStatus.CREATED, response.content
    request = PrivacyRequest.objects.get()
    assert request.site_url == f"http://{SITE}"
    assert emailed_links() == [page_link(f"http://{SITE}", request)]


def test_site_url_wins_over_the_submitting_site(
    client, owner, project, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://configured.example.com"
    client.force_login(owner)
    preview = client.post(
        f"/orgs/{project.organization_id}/privacy/export/",
        {"compliance": "GDPR", "project": project.id, "ids_from": "one", "distinct_id": "a"},
        headers={"host": SITE},
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(preview["Location"], {"action": "submit"}, headers={"host": SITE})

    request = PrivacyRequest.objects.get()
    assert emailed_links() == [page_link("https://configured.example.com", request)]


def test_a_request_through_an_unnamed_host_is_refused_and_records_nothing(client, owner, project):
    # Django refuses a Host that ALLOWED_HOSTS does not name before any view runs.
    client.force_login(owner)
    response = client.post(
        f"/orgs/{project.organization_id}/privacy/export/",
        {"compliance": "GDPR", "project": project.id, "ids_from": "one", "distinct_id": "a"},
        headers={"host": "evil.example.net"},
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not PrivacyRequest.objects.exists()
