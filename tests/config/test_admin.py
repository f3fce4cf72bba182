from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.models import Role, User
from accounts.services import gdpr_token_issue
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "admin:accounts_user_changelist",
    "admin:accounts_organization_changelist",
    "admin:accounts_membership_changelist",
    "admin:accounts_gdprtoken_changelist",
    "admin:projects_project_changelist",
]


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def populated():
    membership = MembershipFactory(role=Role.OWNER)
    project = ProjectFactory(organization=membership.organization)
    gdpr_token_issue(user=membership.user)
    return membership, project


@pytest.mark.parametrize("url_name", CHANGELISTS)
def test_staff_sees_every_changelist(staff_client, populated, url_name):
    response = staff_client.get(reverse(url_name))

    assert response.status_code == HTTPStatus.OK


def test_staff_opens_each_change_page_without_secrets(staff_client, populated):
    membership, project = populated

    pages = [
        reverse("admin:accounts_user_change", args=[membership.user.id]),
        reverse("admin:accounts_organization_change", args=[membership.organization.id]),
        reverse("admin:accounts_gdprtoken_change", args=[membership.user.gdpr_token.id]),
        reverse("admin:projects_project_change", args=[project.id]),
    ]
    for page in pages:
        response = staff_client.get(page)
        assert response.status_code == HTTPStatus.OK, page
        content = response.content.decode()
        assert project.api_secret_hash not in content
        assert membership.user.gdpr_token.token_hash not in content


def test_staff_adds_a_user_by_email(staff_client):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "new@example.com", "password1": "a-long-password-9",
         "password2": "a-long-password-9", "usable_password": "true"},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert User.objects.get(email="new@example.com").check_password("a-long-password-9")


def test_projects_cannot_be_added_in_the_admin(staff_client):
    response = staff_client.get(reverse("admin:projects_project_add"))

    assert response.status_code == HTTPStatus.FORBIDDEN


def test_non_staff_never_reach_the_admin(client, populated):
    membership, _ = populated
    client.force_login(membership.user)

    response = client.get(reverse("admin:index"))

    assert response.status_code == HTTPStatus.FOUND
    assert "/login/" in response["Location"]
