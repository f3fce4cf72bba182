"""The organization settings page: its privacy contact (issue 17, item 10)."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.models import Role

pytestmark = pytest.mark.django_db


def settings_url(organization) -> str:
    return reverse("accounts:organization_settings", args=[organization.id])


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_set_the_privacy_contact(client, make_member, organization, role):
    client.force_login(make_member(role))

    response = client.post(settings_url(organization), {"privacy_contact": " dpo@acme.example "})

    assert response.status_code == HTTPStatus.FOUND
    organization.refresh_from_db()
    assert organization.privacy_contact == "dpo@acme.example"
    page = client.get(settings_url(organization)).content.decode()
    assert "The privacy contact was saved." in page
    assert 'id="privacy-contact-now">dpo@acme.example<' in page


def test_a_web_address_or_nothing_is_accepted_and_anything_else_refused(
    client, owner, organization
):
    client.force_login(owner)
    client.post(settings_url(organization), {"privacy_contact": "https://acme.example/privacy"})
    organization.refresh_from_db()
    assert organization.privacy_contact == "https://acme.example/privacy"

    response = client.post(settings_url(organization), {"privacy_contact": "call Bob"})

    assert response.status_code == HTTPStatus.OK
    assert "Enter an email address (privacy@example.com)" in response.content.decode()
    organization.refresh_from_db()
    assert organization.privacy_contact == "https://acme.example/privacy"
    client.post(settings_url(organization), {"privacy_contact": ""})
    organization.refresh_from_db()
    assert organization.privacy_contact == ""


def test_members_cannot_change_it(client, make_member, organization):
    client.force_login(make_member(Role.MEMBER))

    response = client.post(settings_url(organization), {"privacy_contact": "x@example.com"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    organization.refresh_from_db()
    assert organization.privacy_contact == ""


def test_another_organization_is_not_found(client, owner, organization):
    from tests.factories import OrganizationFactory

    client.force_login(owner)

    assert client.get(settings_url(OrganizationFactory())).status_code == HTTPStatus.NOT_FOUND
