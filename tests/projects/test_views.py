from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.models import Role
from accounts.tokens import token_hash
from projects.models import Project
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_project_list_shows_the_users_projects_and_no_others(client, project, member):
    other = ProjectFactory(name="Somebody else's project")
    client.force_login(member)

    response = client.get(reverse("projects:list"))

    assert response.status_code == HTTPStatus.OK
    assert list(response.context["projects"]) == [project]
    content = response.content.decode()
    assert project.token in content
    assert other.name not in content and other.token not in content


def test_anonymous_user_is_sent_to_sign_in(client):
    response = client.get(reverse("projects:list"))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("account_login"))


def test_owner_creates_a_project_and_sees_its_secret_once(client, organization, owner):
    client.force_login(owner)

    response = client.post(
        reverse("projects:create"), {"organization": organization.id, "name": "Mobile app"}
    )

    project = Project.objects.get(name="Mobile app")
    created_url = reverse("projects:created", args=[project.id])
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == created_url
    shown = client.get(created_url)
    assert shown["Cache-Control"] == "no-store"
    secret = shown.context["api_secret"]
    assert project.api_secret_hash == token_hash(secret)
    assert secret in shown.content.decode()
    assert secret not in client.get(reverse("projects:list")).content.decode()
    # Issue 17, item 2: a reload says it was shown, and creates no other project.
    reload = client.get(created_url).content.decode()
    assert secret not in reload
    assert "The API secret was already shown." in reload
    assert Project.objects.filter(name="Mobile app").count() == 1


def test_member_cannot_create_a_project(client, organization, member):
    client.force_login(member)

    get = client.get(reverse("projects:create"))
    post = client.post(
        reverse("projects:create"), {"organization": organization.id, "name": "Mobile app"}
    )

    assert get.status_code == HTTPStatus.FORBIDDEN
    assert post.status_code == HTTPStatus.FORBIDDEN
    assert "Only owners and admins" in post.content.decode()
    assert not Project.objects.filter(name="Mobile app").exists()


def test_admin_cannot_create_a_project_in_an_organization_where_they_are_a_member(
    client, organization, admin_user
):
    elsewhere = MembershipFactory(user=admin_user, role=Role.MEMBER).organization
    client.force_login(admin_user)

    response = client.post(
        reverse("projects:create"), {"organization": elsewhere.id, "name": "Sneaky"}
    )

    assert response.status_code == HTTPStatus.OK
    assert "organization" in response.context["form"].errors
    assert not Project.objects.filter(name="Sneaky").exists()


def test_duplicate_project_name_is_a_form_error(client, project, owner):
    client.force_login(owner)

    response = client.post(
        reverse("projects:create"), {"organization": project.organization_id, "name": project.name}
    )

    assert response.status_code == HTTPStatus.OK
    assert "already has a project named" in response.content.decode()
    assert Project.objects.filter(name=project.name).count() == 1
