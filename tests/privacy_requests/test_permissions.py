import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.actors import Actor, service_account_actor
from accounts.models import Role
from privacy_requests.errors import NotAllowed
from privacy_requests.permissions import actor_require, can_act_on_privacy_requests
from projects.models import ServiceAccountProject
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


# Service accounts (issue 13) ----------------------------------------------------------------


def test_an_admin_service_account_granted_the_project_acts(project, make_service_account):
    account, _ = make_service_account("admin")

    assert can_act_on_privacy_requests(user=None, service_account=account, project=project)


def test_a_member_service_account_never_acts(project, make_service_account):
    account, _ = make_service_account("member")

    assert not can_act_on_privacy_requests(user=None, service_account=account, project=project)


def test_a_service_account_acts_only_on_its_granted_projects(project, make_service_account):
    sibling = ProjectFactory(organization=project.organization)
    foreign = ProjectFactory()
    account, _ = make_service_account("admin", projects=[sibling])
    # Forged across organizations (the service refuses it): still nothing.
    ServiceAccountProject.objects.create(service_account=account, project=foreign)

    assert not can_act_on_privacy_requests(user=None, service_account=account, project=project)
    assert not can_act_on_privacy_requests(user=None, service_account=account, project=foreign)
    assert can_act_on_privacy_requests(user=None, service_account=account, project=sibling)


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_revoked_or_expired_service_account_never_acts(project, make_service_account, state):
    account, _ = make_service_account("admin")
    if state == "revoked":
        account.revoked_at = timezone.now()
    else:
        account.expires_at = timezone.now()

    assert not can_act_on_privacy_requests(user=None, service_account=account, project=project)


def test_a_service_account_acts_through_the_api_only(project, make_service_account):
    account, _ = make_service_account("admin")

    actor_require(actor=service_account_actor(account), project=project)
    for via in ("web", "staff", "system", "cli"):
        with pytest.raises(NotAllowed):
            actor_require(actor=Actor(user=None, via=via, service_account=account), project=project)
