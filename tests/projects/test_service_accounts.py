"""Service accounts' services (issue 13): only owners create and revoke them; a new account is
granted projects of its own organization; its secret is returned once and kept as a hash; it
authenticates until revoked or expired; it acts as `api:service-account:<username>`."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actors import OPERATOR, Actor, service_account_actor
from accounts.errors import NotAllowed as AccountsNotAllowed
from accounts.errors import ServiceAccountInvalid, ServiceAccountRevoked
from accounts.models import Role, ServiceAccount
from accounts.service_accounts import service_account_authenticate, service_account_revoke
from accounts.tokens import token_hash
from projects.errors import ServiceAccountProjectsInvalid
from projects.models import ServiceAccountProject
from projects.selectors import project_get_for_service_account, service_account_projects
from projects.services import service_account_create_with_grants
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _snapshot():
    return (
        sorted(ServiceAccount.objects.values_list("username", "role", "revoked_at")),
        sorted(ServiceAccountProject.objects.values_list("service_account_id", "project_id")),
    )


def _create(actor, project, **overrides):
    arguments = {
        "actor": actor,
        "organization": project.organization,
        "name": "Warehouse import",
        "role": "member",
        "projects": [project],
    }
    arguments.update(overrides)
    return service_account_create_with_grants(**arguments)


def test_an_owner_creates_a_service_account_granted_the_chosen_projects(project, owner):
    second = ProjectFactory(organization=project.organization, name="Mobile")
    ProjectFactory(organization=project.organization, name="Not granted")

    account, secret = _create(
        Actor(user=owner, via="web"), project, projects=[project, second, project]
    )

    assert re.fullmatch(r"warehouse-import\.[0-9a-f]{8}\.sa", account.username)
    assert len(secret) >= 43  # 32 random bytes
    assert account.secret_hash == token_hash(secret)
    assert (account.role, account.created_by, account.expires_at) == (
        "member",
        f"web:{owner.email}",
        None,
    )
    assert service_account_projects(service_accounts=[account])[account.id] == sorted(
        [project, second], key=lambda granted: (granted.name, granted.id)
    )


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_admins_and_members_cannot_create_service_accounts(project, make_member, role):
    user = make_member(role)
    before = _snapshot()

    with pytest.raises(AccountsNotAllowed, match="Only owners can manage service accounts."):
        _create(Actor(user=user, via="web"), project)

    assert _snapshot() == before


def test_an_owner_of_another_organization_cannot_create_one_here(project, outsider):
    before = _snapshot()

    with pytest.raises(AccountsNotAllowed):
        _create(Actor(user=outsider, via="web"), project)

    assert _snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"name": "   "}, ServiceAccountInvalid, "The name must be 1 to 100 printable"),
        ({"name": "x" * 101}, ServiceAccountInvalid, "The name must be 1 to 100 printable"),
        ({"name": "bad\x00name"}, ServiceAccountInvalid, "The name must be 1 to 100 printable"),
        ({"role": "owner"}, ServiceAccountInvalid, "role is admin or member"),
        (
            {"expires_at": timezone.now() - timedelta(seconds=1)},
            ServiceAccountInvalid,
            "The expiry must be in the future.",
        ),
        ({"projects": []}, ServiceAccountProjectsInvalid, "at least one project"),
    ],
    ids=["blank", "long", "nul", "owner-role", "past-expiry", "no-project"],
)
def test_invalid_service_accounts_are_refused_and_nothing_is_kept(
    project, owner, overrides, error, message
):
    before = _snapshot()

    with pytest.raises(error, match=message):
        _create(Actor(user=owner, via="web"), project, **overrides)

    assert _snapshot() == before


def test_a_service_account_is_never_granted_another_organizations_project(project, owner):
    foreign = ProjectFactory()
    before = _snapshot()

    with pytest.raises(ServiceAccountProjectsInvalid, match="its own organization's projects"):
        _create(Actor(user=owner, via="web"), project, projects=[project, foreign])

    assert _snapshot() == before


def test_an_owner_revokes_and_the_secret_stops_authenticating_at_once(project, owner):
    account, secret = _create(OPERATOR, project)
    assert service_account_authenticate(username=account.username, secret=secret) == account

    service_account_revoke(actor=Actor(user=owner, via="web"), service_account=account)

    account.refresh_from_db()
    assert account.revoked_at is not None
    assert account.revoked_by == f"web:{owner.email}"
    assert service_account_authenticate(username=account.username, secret=secret) is None
    with pytest.raises(ServiceAccountRevoked):
        service_account_revoke(actor=OPERATOR, service_account=account)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_admins_and_members_cannot_revoke(project, make_member, role):
    account, secret = _create(OPERATOR, project)
    user = make_member(role)

    with pytest.raises(AccountsNotAllowed):
        service_account_revoke(actor=Actor(user=user, via="web"), service_account=account)

    account.refresh_from_db()
    assert account.revoked_at is None
    assert service_account_authenticate(username=account.username, secret=secret) == account


def test_an_owner_of_another_organization_cannot_revoke(project, outsider):
    account, _ = _create(OPERATOR, project)

    with pytest.raises(AccountsNotAllowed):
        service_account_revoke(actor=Actor(user=outsider, via="web"), service_account=account)

    account.refresh_from_db()
    assert account.revoked_at is None


@pytest.mark.parametrize(
    ("username", "secret"),
    [
        ("", "s"),
        ("someone", ""),
        ("a\x00b", "s"),
        ("u" * 81, "s"),
        ("unknown.0000.sa", "s" * 43),
        ("ok", "s" * 201),
    ],
)
def test_authenticate_refuses_malformed_or_unknown_credentials(project, username, secret):
    _create(OPERATOR, project)

    assert service_account_authenticate(username=username, secret=secret) is None


def test_authenticate_refuses_an_expired_account(project):
    account, secret = _create(OPERATOR, project, expires_at=timezone.now() + timedelta(hours=1))
    ServiceAccount.objects.filter(id=account.id).update(expires_at=timezone.now())

    assert service_account_authenticate(username=account.username, secret=secret) is None


def test_the_project_of_an_account_is_one_it_is_granted_in_its_organization(project):
    account, _ = _create(OPERATOR, project)
    sibling = ProjectFactory(organization=project.organization)
    foreign = ProjectFactory()
    # A grant across organizations cannot be made through the service; even forged, it opens
    # nothing.
    ServiceAccountProject.objects.create(service_account=account, project=foreign)

    assert project_get_for_service_account(service_account=account, project_id=project.pk) == (
        project
    )
    assert project_get_for_service_account(service_account=account, project_id=sibling.pk) is None
    assert project_get_for_service_account(service_account=account, project_id=foreign.pk) is None


def test_actor_text_names_the_service_account_and_stays_the_same_for_people(project):
    account, _ = _create(OPERATOR, project)
    person = MembershipFactory(organization=project.organization).user

    assert service_account_actor(account).text == f"api:service-account:{account.username}"
    assert service_account_actor(account).is_trusted is False
    assert Actor(user=person, via="web").text == f"web:{person.email}"
    assert Actor(user=person, via="api").text == f"api:{person.email}"
    assert OPERATOR.text == "cli"
