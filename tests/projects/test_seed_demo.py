import io
import json
import re
from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import Membership, Organization, Role, User
from projects.models import Event, IdentityLink, Profile, Project
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

DEMO_EMAIL = "demo@example.com"


def seed_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def seed_demo_json(*args: str) -> dict:
    return json.loads(seed_demo(*args, "--json"))


def printed(field: str, output: str) -> str:
    match = re.search(rf"^  {field}: +(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def assert_signs_in(client, email: str, password: str) -> None:
    client.logout()
    response = client.post(reverse("account_login"), {"login": email, "password": password})
    assert response.status_code == HTTPStatus.FOUND, response.content
    assert response["Location"] == reverse("home")


def test_seed_demo_twice_reuses_everything_and_each_printed_password_signs_in(client):
    first = seed_demo()
    assert_signs_in(client, printed("Email", first), printed("Password", first))
    second = seed_demo()

    owner = User.objects.get()
    assert owner.email == DEMO_EMAIL
    organization = Organization.objects.get()
    assert organization.name == "Demo Organization"
    project = Project.objects.get()
    assert project.name == "Demo Project"
    assert project.organization == organization
    membership = Membership.objects.get()
    assert (membership.user, membership.organization, membership.role) == (
        owner,
        organization,
        Role.OWNER,
    )
    assert EmailAddress.objects.get(user=owner).verified is True
    assert printed("Project token", first) == printed("Project token", second) == project.token
    assert printed("Site", second) == "http://127.0.0.1:8000/"
    # Each run sets a new password; only the latest one works.
    assert printed("Password", first) != printed("Password", second)
    assert_signs_in(client, DEMO_EMAIL, printed("Password", second))
    assert not owner.check_password(printed("Password", first))


def test_seed_demo_json_prints_the_login_with_the_chosen_password(client):
    login = seed_demo_json("--password", "demo-password", "--site-url", "http://localhost:9000/")

    project = Project.objects.get()
    assert login == {
        "organization_id": project.organization_id,
        "organization_name": "Demo Organization",
        "project_id": project.id,
        "project_name": "Demo Project",
        "project_token": project.token,
        "owner_email": DEMO_EMAIL,
        "password": "demo-password",
        "site_url": "http://localhost:9000/",
        "example_distinct_id": login["example_distinct_id"],
    }
    cluster = IdentityLink.objects.filter(
        project=project, canonical_id=login["example_distinct_id"]
    )
    assert cluster.exists()
    assert_signs_in(client, DEMO_EMAIL, "demo-password")


def test_seed_demo_fills_the_demo_store_once():
    seed_demo_json()
    project = Project.objects.get()
    counts = (
        Event.objects.filter(project=project).count(),
        Profile.objects.filter(project=project).count(),
    )

    seed_demo_json()

    assert counts == (3000, 60)
    assert (
        Event.objects.filter(project=project).count(),
        Profile.objects.filter(project=project).count(),
    ) == counts


def test_seed_demo_restores_a_demoted_demo_owner():
    seed_demo_json()
    membership = Membership.objects.get(user__email=DEMO_EMAIL)
    other_owner = MembershipFactory(organization=membership.organization, role=Role.OWNER)
    membership.role = Role.MEMBER
    membership.save(update_fields=["role"])

    seed_demo_json()

    assert {(m.user.email, m.role) for m in Membership.objects.all()} == {
        (DEMO_EMAIL, Role.OWNER),
        (other_owner.user.email, Role.OWNER),
    }
    assert Organization.objects.count() == 1
    assert Project.objects.count() == 1


def test_seed_demo_ignores_a_namesake_organization_the_demo_owner_is_not_in():
    namesake = OrganizationFactory(name="Demo Organization")

    login = seed_demo_json()

    assert login["organization_id"] != namesake.id
    assert not namesake.projects.exists()
    assert not namesake.memberships.exists()


def test_seed_demo_refuses_an_empty_password_and_creates_nothing():
    with pytest.raises(CommandError, match="--password: must not be empty"):
        seed_demo("--password", "")

    assert not User.objects.exists()
    assert not Organization.objects.exists()
