"""Every field error a form shows is named by its field's aria-describedby (issue 17, item 7):
Django's widgets point at `<auto_id>_error`, so each template's error list carries that id, or
screen readers never hear the error."""

import re
from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.services import gdpr_token_issue
from privacy_requests.models import RequestDraft
from tests.factories import DEFAULT_PASSWORD
from tests.privacy_requests.web_support import deletion_url, export_url, preview_url

pytestmark = pytest.mark.django_db

DESCRIBEDBY = re.compile(r'aria-describedby="([^"]+)"')
ID = re.compile(r'\sid="([^"]+)"')


def described_errors(page: str) -> list[str]:
    """The `_error` ids named by aria-describedby; fails if any names no element of the page."""
    ids = set(ID.findall(page))
    named = [token for value in DESCRIBEDBY.findall(page) for token in value.split()]
    missing = [token for token in named if token not in ids]
    assert missing == [], f"aria-describedby names no element: {missing}"
    return sorted(token for token in named if token.endswith("_error"))


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def test_the_request_form_names_its_field_errors(owner_client, organization, project):
    response = owner_client.post(
        export_url(organization),
        {"project": project.id, "ids_from": "one", "distinct_id": "", "compliance": "GDPR"},
    )

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert described_errors(page) == ["id_distinct_id_error"]
    assert '<ul class="errorlist" id="id_distinct_id_error"><li>Enter the end user' in page


def test_the_request_form_names_its_radio_errors(owner_client, organization, project):
    response = owner_client.post(
        deletion_url(organization),
        {"project": project.id, "ids_from": "one", "distinct_id": "a", "compliance": "nope"},
    )

    page = response.content.decode()
    assert described_errors(page) == ["id_compliance_error"]
    assert 'aria-describedby="id_compliance_error"' in page


def test_the_deletion_preview_names_the_unticked_confirmation(owner_client, organization, project):
    owner_client.post(
        deletion_url(organization),
        {"project": project.id, "ids_from": "one", "distinct_id": "alice", "compliance": "GDPR"},
    )
    draft = RequestDraft.objects.get()

    response = owner_client.post(preview_url(draft), {"action": "submit"})

    page = response.content.decode()
    assert described_errors(page) == ["id_confirm_error"]
    assert re.search(r'<ul id="id_confirm_error"><li>Tick the box to confirm', page)


def test_the_settings_pages_name_their_errors(owner_client, owner, project):
    gdpr_token_issue(user=owner)
    reset = owner_client.post(reverse("accounts:gdpr_token_reset"), {})
    rotate = owner_client.post(reverse("projects:api_secret_rotate", args=[project.id]), {})
    invite = owner_client.post(
        reverse("accounts:members", args=[project.organization_id]),
        {"email": "not an address", "role": "member"},
    )

    assert described_errors(reset.content.decode()) == ["id_confirm_error"]
    assert described_errors(rotate.content.decode()) == ["id_confirm_error"]
    assert described_errors(invite.content.decode()) == ["id_email_error"]


def test_the_sign_in_form_names_its_errors(client, owner):
    response = client.post(
        reverse("account_login"), {"login": owner.email, "password": DEFAULT_PASSWORD + "x"}
    )

    page = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    described_errors(page)
    assert "The email address and/or password you specified are not correct." in page
