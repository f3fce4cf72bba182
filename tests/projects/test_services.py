import pytest

from accounts.actors import Actor
from accounts.models import Role
from accounts.tokens import token_hash
from projects.errors import NotAllowed, ProjectNameTaken
from projects.models import Project
from projects.services import project_create, project_rotate_api_secret, project_verify_api_secret

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owner_and_admin_create_a_project_whose_secret_is_stored_only_as_hash(
    organization, make_member, role
):
    actor = make_member(role)

    project, secret = project_create(
        actor=Actor(user=actor, via="web"), organization=organization, name=" Web app "
    )

    project.refresh_from_db()
    assert project.name == "Web app"
    assert project.organization == organization
    assert len(project.token) == 32
    assert project.api_secret_hash == token_hash(secret)
    assert secret not in project.api_secret_hash
    assert project_verify_api_secret(project=project, secret=secret) is True


def test_member_cannot_create_a_project(organization, member):
    with pytest.raises(NotAllowed):
        project_create(
            actor=Actor(user=member, via="web"), organization=organization, name="Web app"
        )

    assert Project.objects.count() == 0


def test_outsider_cannot_create_a_project_in_another_organization(organization, outsider):
    with pytest.raises(NotAllowed):
        project_create(
            actor=Actor(user=outsider, via="web"), organization=organization, name="Web app"
        )

    assert Project.objects.count() == 0


def test_project_names_are_unique_within_an_organization(organization, owner):
    project_create(actor=Actor(user=owner, via="web"), organization=organization, name="Web app")

    with pytest.raises(ProjectNameTaken):
        project_create(
            actor=Actor(user=owner, via="web"), organization=organization, name="Web app"
        )

    assert Project.objects.count() == 1


def test_rotating_the_api_secret_invalidates_the_old_one(organization, owner):
    project, old = project_create(
        actor=Actor(user=owner, via="web"), organization=organization, name="Web app"
    )

    new = project_rotate_api_secret(actor=Actor(user=owner, via="web"), project=project)

    project.refresh_from_db()
    assert new != old
    assert project_verify_api_secret(project=project, secret=old) is False
    assert project_verify_api_secret(project=project, secret=new) is True
    assert project.api_secret_rotated_at is not None


def test_member_cannot_rotate_the_api_secret(organization, owner, member):
    project, secret = project_create(
        actor=Actor(user=owner, via="web"), organization=organization, name="Web app"
    )

    with pytest.raises(NotAllowed):
        project_rotate_api_secret(actor=Actor(user=member, via="web"), project=project)

    project.refresh_from_db()
    assert project_verify_api_secret(project=project, secret=secret) is True


@pytest.mark.parametrize("secret", ["", "wrong", "x" * 1000])
def test_wrong_api_secret_is_rejected(project, secret):
    assert project_verify_api_secret(project=project, secret=secret) is False
