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


def _limits(**values):
    return {"section": "deletion_approval", **values}


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_set_the_deletion_approval_limits(
    client, make_member, organization, role
):
    client.force_login(make_member(role))
    page = client.get(settings_url(organization)).content.decode()
    assert "Suggested: 100." in page and "Suggested: 1000000." in page

    response = client.post(
        settings_url(organization),
        _limits(approval_subjects_over="100", approval_events_over="1000000"),
    )

    assert response.status_code == HTTPStatus.FOUND
    organization.refresh_from_db()
    assert (organization.approval_subjects_over, organization.approval_events_over) == (
        100,
        1_000_000,
    )
    assert organization.privacy_contact == ""
    client.post(settings_url(organization), _limits(approval_subjects_over=""))
    organization.refresh_from_db()
    assert (organization.approval_subjects_over, organization.approval_events_over) == (None, None)


def test_deletion_approval_is_off_by_default_and_refuses_negative_limits(
    client, owner, organization
):
    assert (organization.approval_subjects_over, organization.approval_events_over) == (None, None)
    client.force_login(owner)

    response = client.post(settings_url(organization), _limits(approval_subjects_over="-1"))

    assert response.status_code == HTTPStatus.OK
    organization.refresh_from_db()
    assert organization.approval_subjects_over is None


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_members_and_other_organizations_cannot_set_approval_limits(
    client, make_member, outsider, organization, who
):
    client.force_login(make_member(Role.MEMBER) if who == "member" else outsider)

    response = client.post(settings_url(organization), _limits(approval_subjects_over="1"))

    assert response.status_code in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND)
    organization.refresh_from_db()
    assert organization.approval_subjects_over is None
