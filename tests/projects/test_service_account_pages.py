"""The service accounts page (issue 13): owners create (secret shown once, never cached), list
and revoke; admins and members get 403, other organizations 404, anonymous visitors the sign-in
page; nothing changes on a refusal."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, ServiceAccount
from accounts.service_accounts import service_account_authenticate
from accounts.tokens import token_hash
from projects.models import ServiceAccountProject
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def list_url(organization) -> str:
    return reverse("service_accounts:list", args=[organization.id])


def revoke_url(account) -> str:
    return reverse("service_accounts:revoke", args=[account.organization_id, account.id])


def snapshot():
    return (
        sorted(ServiceAccount.objects.values_list("id", "username", "revoked_at")),
        sorted(ServiceAccountProject.objects.values_list("service_account_id", "project_id")),
    )


def form(project, **overrides) -> dict:
    data = {"name": "Privacy platform", "role": "admin", "projects": [project.id], "expires_in": ""}
    data.update(overrides)
    return data


def created_url(account) -> str:
    return reverse("service_accounts:created", args=[account.organization_id, account.id])


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def test_an_owner_creates_one_and_sees_the_secret_once(signed_in, organization, project, owner):
    client = signed_in(owner)

    response = client.post(list_url(organization), form(project, expires_in="90"))

    account = ServiceAccount.objects.get()
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == created_url(account)
    created = client.get(created_url(account))
    assert created.status_code == HTTPStatus.OK
    assert created["Cache-Control"] == "no-store"
    page = created.content.decode()
    secret = re.search(r'id="service-account-secret">([^<]+)<', page).group(1)
    assert account.secret_hash == token_hash(secret)
    assert service_account_authenticate(username=account.username, secret=secret) == account
    assert account.username in page
    assert f"project_id={project.id}" in page
    assert (account.name, account.role, account.created_by) == (
        "Privacy platform",
        "admin",
        f"web:{owner.email}",
    )
    assert abs(account.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    assert list(account.project_grants.values_list("project_id", flat=True)) == [project.id]
    listed = client.get(list_url(organization)).content.decode()
    assert account.username in listed
    assert secret not in listed
    # Issue 17, item 2: a reload shows that it was shown, and creates nothing.
    reload = client.get(created_url(account)).content.decode()
    assert secret not in reload
    assert "The secret was already shown." in reload
    assert ServiceAccount.objects.count() == 1


def test_members_of_the_organization_cannot_open_a_new_accounts_page(
    signed_in, organization, make_member, make_service_account
):
    account, _ = make_service_account("admin")

    response = signed_in(make_member(Role.ADMIN)).get(created_url(account))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert account.username not in response.content.decode()


def test_the_list_shows_name_username_role_projects_expiry_last_use_and_state(
    signed_in, organization, project, owner, make_service_account
):
    second = ProjectFactory(organization=organization, name="Mobile")
    active, _ = make_service_account("admin", projects=[project, second], name="Platform")
    expiring = timezone.now() + timedelta(days=3)
    expired, _ = make_service_account("member", name="Old import", expires_at=expiring)
    revoked, _ = make_service_account("member", name="Gone")
    ServiceAccount.objects.filter(id=revoked.id).update(revoked_at=timezone.now())
    used = timezone.now().replace(microsecond=0)
    ServiceAccount.objects.filter(id=active.id).update(last_used_at=used)

    with time_machine.travel(expiring + timedelta(days=1)):
        page = signed_in(owner).get(list_url(organization)).content.decode()

    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)[1:]
    text = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip().replace(" ,", ",") for row in rows
    ]
    # Usable accounts first, by name; revoked ones last.
    assert text == [
        f"Old import {expired.username} Member {project.name} (id {project.id}) "
        f"{expiring:%-d %b %Y} never Expired Revoke Old import",
        f"Platform {active.username} Admin Mobile (id {second.id}), {project.name} "
        f"(id {project.id}) never {used:%-d %b %Y, %H:%M} UTC Active Revoke Platform",
        f"Gone {revoked.username} Member {project.name} (id {project.id}) never never "
        f"Revoked {timezone.now():%-d %b %Y} —",
    ]
    assert revoke_url(revoked) not in page


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_admins_and_members_get_403_everywhere_and_change_nothing(
    signed_in, organization, project, make_member, make_service_account, role
):
    account, secret = make_service_account("admin")
    client = signed_in(make_member(role))
    before = snapshot()

    answers = [
        client.get(list_url(organization)),
        client.post(list_url(organization), form(project)),
        client.get(revoke_url(account)),
        client.post(revoke_url(account)),
    ]

    assert [answer.status_code for answer in answers] == [HTTPStatus.FORBIDDEN] * 4
    assert "Only owners of" in answers[0].content.decode()
    assert account.username not in answers[0].content.decode()
    assert snapshot() == before
    assert service_account_authenticate(username=account.username, secret=secret) is not None


def test_another_organizations_owner_gets_404_and_changes_nothing(
    signed_in, organization, project, outsider, make_service_account
):
    account, _ = make_service_account("admin")
    client = signed_in(outsider)
    own_organization = outsider.memberships.get().organization
    before = snapshot()

    answers = [
        client.get(list_url(organization)),
        client.post(list_url(organization), form(project)),
        client.get(revoke_url(account)),
        client.post(revoke_url(account)),
        # This organization's account through the outsider's own organization's URL.
        client.post(reverse("service_accounts:revoke", args=[own_organization.id, account.id])),
    ]

    assert [answer.status_code for answer in answers] == [HTTPStatus.NOT_FOUND] * 5
    assert snapshot() == before


def test_anonymous_visitors_are_sent_to_sign_in(client, organization, project):
    response = client.get(list_url(organization))
    posted = client.post(list_url(organization), form(project))

    assert response.status_code == posted.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("account_login"))
    assert ServiceAccount.objects.count() == 0


def test_a_project_of_another_organization_cannot_be_granted(
    signed_in, organization, project, owner
):
    foreign = ProjectFactory()

    response = signed_in(owner).post(list_url(organization), form(project, projects=[foreign.id]))

    assert response.status_code == HTTPStatus.OK
    assert "Select a valid choice" in response.content.decode()
    assert snapshot() == ([], [])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"role": "owner"}, "Select a valid choice. owner is not one of the available choices."),
        ({"projects": []}, "Choose at least one project."),
        ({"expires_in": "7"}, "Select a valid choice."),
    ],
)
def test_form_errors_are_shown_and_nothing_is_created(
    signed_in, organization, project, owner, overrides, message
):
    response = signed_in(owner).post(list_url(organization), form(project, **overrides))

    assert response.status_code == HTTPStatus.OK
    assert message in response.content.decode()
    assert "No service account was created." in response.content.decode()
    assert snapshot() == ([], [])


def test_an_owner_revokes_after_confirming_and_it_stops_working_at_once(
    signed_in, organization, project, owner, make_service_account
):
    account, secret = make_service_account("member")
    client = signed_in(owner)

    confirm = client.get(revoke_url(account))
    unrevoked_after_confirm_page = ServiceAccount.objects.get(id=account.id).revoked_at is None
    revoked = client.post(revoke_url(account), follow=True)
    again = client.post(revoke_url(account), follow=True)

    assert confirm.status_code == HTTPStatus.OK
    assert f"Revoke {account.name}?" in confirm.content.decode()
    assert unrevoked_after_confirm_page
    assert revoked.redirect_chain == [(list_url(organization), HTTPStatus.FOUND)]
    assert f"{account.name} ({account.username}) was revoked" in revoked.content.decode()
    assert service_account_authenticate(username=account.username, secret=secret) is None
    assert "was already revoked" in again.content.decode()


def test_forms_need_the_csrf_token(organization, project, owner, make_service_account):
    account, _ = make_service_account("member")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    created = client.post(list_url(organization), form(project))
    revoked = client.post(revoke_url(account))

    assert created.status_code == revoked.status_code == HTTPStatus.FORBIDDEN
    assert ServiceAccount.objects.count() == 1
    assert ServiceAccount.objects.get().revoked_at is None


def test_owners_find_the_page_from_the_members_page_and_admins_do_not(
    signed_in, organization, owner, admin_user
):
    owner_page = signed_in(owner).get(reverse("accounts:members", args=[organization.id]))
    admin_page = signed_in(admin_user).get(reverse("accounts:members", args=[organization.id]))

    assert list_url(organization) in owner_page.content.decode()
    assert list_url(organization) not in admin_page.content.decode()
    assert "which only owners create and revoke" in admin_page.content.decode()


def test_an_organization_without_projects_is_told_to_create_one(signed_in, organization, owner):
    page = signed_in(owner).get(list_url(organization)).content.decode()

    assert "has no project yet" in page
    assert "Create service account" not in page
