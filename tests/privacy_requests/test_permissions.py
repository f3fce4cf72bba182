import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Role
from privacy_requests.permissions import can_act_on_privacy_requests
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.OWNER, True), (Role.ADMIN, True), (Role.MEMBER, False)],
)
def test_only_owners_and_admins_act_on_privacy_requests(project, role, allowed):
    user = MembershipFactory(organization=project.organization, role=role).user

    assert can_act_on_privacy_requests(user=user, project=project) is allowed


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
def test_users_of_another_organization_never_act_on_its_requests(project, role):
    other_project = ProjectFactory()
    user = MembershipFactory(organization=other_project.organization, role=role).user

    assert can_act_on_privacy_requests(user=user, project=project) is False


def test_owner_of_one_organization_is_not_owner_of_another(project):
    user = MembershipFactory(role=Role.OWNER).user
    MembershipFactory(user=user, organization=project.organization, role=Role.MEMBER)

    assert can_act_on_privacy_requests(user=user, project=project) is False


def test_staff_without_membership_cannot_act_through_the_interfaces(project):
    staff = UserFactory(is_staff=True, is_superuser=True)

    assert can_act_on_privacy_requests(user=staff, project=project) is False


def test_inactive_owner_cannot_act(project):
    user = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert can_act_on_privacy_requests(user=user, project=project) is False


def test_anonymous_and_missing_user_cannot_act(project):
    assert can_act_on_privacy_requests(user=AnonymousUser(), project=project) is False
    assert can_act_on_privacy_requests(user=None, project=project) is False
