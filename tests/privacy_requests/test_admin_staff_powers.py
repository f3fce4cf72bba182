"""What staff can change in the back office (issue 15, finding 1): nothing that moves a
customer's data to another organization or changes who may act, except through the services
the web pages use, with an entry in the customer's audit chain.

The attacks come from the security review: a staff user moved a customer's project into their
own organization, exported it there and moved it back; a superuser removed an organization's
only owner and made themselves owner of another organization; the user admin set an owner's
password. Each test also asserts that nothing changed.
"""

from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.urls import reverse

from accounts.models import Membership, Organization, Role, User
from privacy_requests.models import AuditEntry
from projects.models import Project
from tests.admin_support import sign_in_with_mfa, staff_user
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

ATTACKER_PASSWORD = "staff-chose-this-9"  # noqa: S105 (what an attacker would type)


@pytest.fixture
def operator():
    """A superuser who, like everyone who signs up, owns an organization of their own."""
    user = staff_user()
    MembershipFactory(user=user, role=Role.OWNER)
    return user


@pytest.fixture
def staff_client(client, operator):
    sign_in_with_mfa(client, operator)
    return client


@pytest.fixture
def customer():
    """Another organization: its only owner, an admin, and a project."""
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    admin = MembershipFactory(organization=organization, role=Role.ADMIN)
    project = ProjectFactory(organization=organization, name="Web shop")
    return {
        "organization": organization,
        "owner": owner,
        "admin": admin,
        "project": project,
    }


def chain(organization) -> list[tuple[str, str, dict]]:
    return list(
        AuditEntry.objects.filter(organization=organization)
        .order_by("seq")
        .values_list("actor", "action", "detail")
    )


def memberships(organization) -> list[tuple[str, str]]:
    return sorted(
        Membership.objects.filter(organization=organization).values_list("user__email", "role")
    )


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


def membership_change_detail(membership_user, before, after) -> dict:
    return {
        "user_id": membership_user.id,
        "email": membership_user.email,
        "role_before": before,
        "role_after": after,
    }


# -- Projects stay in their organization. --


def test_staff_cannot_move_a_project_into_their_own_organization(staff_client, operator, customer):
    project = customer["project"]
    own_organization = Organization.objects.get(memberships__user=operator)
    page = reverse("admin:projects_project_change", args=[project.id])

    form = staff_client.get(page)
    response = staff_client.post(page, {"name": project.name, "organization": own_organization.id})

    assert form.status_code == HTTPStatus.OK
    assert 'name="organization"' not in form.content.decode()
    assert response.status_code == HTTPStatus.FOUND
    project.refresh_from_db()
    assert project.organization_id == customer["organization"].id
    assert not Project.objects.filter(organization=own_organization).exists()


def test_staff_cannot_switch_suppression_in_the_admin_and_are_sent_to_the_settings_page(
    staff_client, customer
):
    project = customer["project"]
    page = reverse("admin:projects_project_change", args=[project.id])

    form = staff_client.get(page)
    response = staff_client.post(page, {"name": project.name, "suppress_deleted_ids": "on"})

    content = form.content.decode()
    assert 'name="suppress_deleted_ids"' not in content
    assert reverse("projects:settings", args=[project.id]) in content
    assert response.status_code == HTTPStatus.FOUND
    project.refresh_from_db()
    assert project.suppress_deleted_ids is False
    assert chain(customer["organization"]) == []


# -- Organizations are neither created, deleted nor re-staffed here. --


def test_organizations_cannot_be_added_or_deleted_in_the_admin(staff_client, customer):
    organization = customer["organization"]

    add = staff_client.get(reverse("admin:accounts_organization_add"))
    delete = staff_client.post(
        reverse("admin:accounts_organization_delete", args=[organization.id]), {"post": "yes"}
    )

    assert add.status_code == HTTPStatus.FORBIDDEN
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert Organization.objects.filter(id=organization.id).exists()
    assert len(memberships(organization)) == 2


def test_the_organization_page_lists_members_but_cannot_change_them(staff_client, customer):
    organization = customer["organization"]
    owner = customer["owner"]
    before = memberships(organization)
    page = reverse("admin:accounts_organization_change", args=[organization.id])

    form = staff_client.get(page)
    # What the inline formset posted before: the owner's row deleted, the admin made owner.
    staff_client.post(
        page,
        {
            "name": organization.name,
            "memberships-TOTAL_FORMS": "2",
            "memberships-INITIAL_FORMS": "2",
            "memberships-0-id": owner.id,
            "memberships-0-organization": organization.id,
            "memberships-0-user": owner.user_id,
            "memberships-0-role": "owner",
            "memberships-0-DELETE": "on",
            "memberships-1-id": customer["admin"].id,
            "memberships-1-organization": organization.id,
            "memberships-1-user": customer["admin"].user_id,
            "memberships-1-role": "owner",
        },
    )

    assert form.status_code == HTTPStatus.OK
    assert owner.user.email in form.content.decode()
    assert 'name="memberships-0-role"' not in form.content.decode()
    assert memberships(organization) == before
    assert chain(organization) == []


# -- Memberships change through the members service, audited in the customer's chain. --


def test_staff_cannot_remove_an_organizations_only_owner(staff_client, customer):
    organization = customer["organization"]
    owner = customer["owner"]
    before = memberships(organization)

    response = staff_client.post(
        reverse("admin:accounts_membership_delete", args=[owner.id]), {"post": "yes"}, follow=True
    )

    assert response.status_code == HTTPStatus.OK
    assert any("last owner" in message for message in shown_messages(response))
    assert memberships(organization) == before
    assert chain(organization) == []


def test_bulk_removal_goes_through_the_service_keeps_the_only_owner_and_audits_the_others(
    staff_client, operator, customer
):
    organization = customer["organization"]
    owner, admin = customer["owner"], customer["admin"]
    changelist = reverse("admin:accounts_membership_changelist")
    selected = {"index": 0, ACTION_CHECKBOX_NAME: [owner.id, admin.id], "post": "yes"}

    # Django's own bulk delete would bypass the service: it is not offered.
    refused = staff_client.post(changelist, {"action": "delete_selected", **selected}, follow=True)
    assert shown_messages(refused) == ["No action selected."]
    assert len(memberships(organization)) == 2
    response = staff_client.post(changelist, {"action": "remove_members", **selected}, follow=True)

    assert response.status_code == HTTPStatus.OK
    assert memberships(organization) == [(owner.user.email, "owner")]
    assert chain(organization) == [
        (
            f"staff:{operator.email}",
            "membership_changed",
            membership_change_detail(admin.user, "admin", None),
        )
    ]
    assert sorted(shown_messages(response)) == [
        f"Removed {admin.user.email} from {organization.name}.",
        f"{owner.user.email} from {organization.name} was not removed: The last owner cannot "
        "be removed: make someone else owner first.",
    ]


def test_staff_cannot_make_themselves_a_member_of_a_customers_organization(
    staff_client, operator, customer
):
    organization = customer["organization"]
    before = memberships(organization)

    response = staff_client.post(
        reverse("admin:accounts_membership_add"),
        {"user": operator.id, "organization": organization.id, "role": "owner"},
        follow=True,
    )

    assert response.status_code == HTTPStatus.OK
    assert memberships(organization) == before
    assert not Membership.objects.filter(user=operator, organization=organization).exists()
    assert chain(organization) == []


def test_adding_someone_who_is_already_a_member_is_refused(staff_client, customer):
    organization = customer["organization"]
    before = memberships(organization)

    response = staff_client.post(
        reverse("admin:accounts_membership_add"),
        {"user": customer["admin"].user_id, "organization": organization.id, "role": "owner"},
    )

    assert response.status_code == HTTPStatus.OK  # the form again, with its error
    assert "already exists" in response.content.decode()
    assert memberships(organization) == before
    assert chain(organization) == []


def test_staff_adding_a_member_goes_through_the_service_and_is_audited(
    staff_client, operator, customer
):
    organization = customer["organization"]
    person = UserFactory(email="new.colleague@example.com")

    response = staff_client.post(
        reverse("admin:accounts_membership_add"),
        {"user": person.id, "organization": organization.id, "role": "admin"},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert Membership.objects.get(user=person, organization=organization).role == "admin"
    assert chain(organization) == [
        (
            f"staff:{operator.email}",
            "membership_changed",
            membership_change_detail(person, None, "admin"),
        )
    ]


def test_staff_changing_a_role_is_audited_with_the_role_before_and_after(
    staff_client, operator, customer
):
    organization = customer["organization"]
    admin = customer["admin"]
    page = reverse("admin:accounts_membership_change", args=[admin.id])

    form = staff_client.get(page)
    # A changed user or organization in the post is ignored: only the role can change.
    response = staff_client.post(
        page,
        {
            "role": "member",
            "user": operator.id,
            "organization": Organization.objects.get(memberships__user=operator).id,
        },
    )

    assert form.status_code == HTTPStatus.OK
    assert 'name="user"' not in form.content.decode()
    assert 'name="organization"' not in form.content.decode()
    assert response.status_code == HTTPStatus.FOUND
    admin.refresh_from_db()
    assert (admin.user_id, admin.organization_id, admin.role) == (
        customer["admin"].user_id,
        organization.id,
        "member",
    )
    assert chain(organization) == [
        (
            f"staff:{operator.email}",
            "membership_changed",
            membership_change_detail(admin.user, "admin", "member"),
        )
    ]


def test_staff_cannot_demote_the_only_owner(staff_client, customer):
    organization = customer["organization"]
    owner = customer["owner"]
    before = memberships(organization)

    response = staff_client.post(
        reverse("admin:accounts_membership_change", args=[owner.id]),
        {"role": "member"},
        follow=True,
    )

    assert response.status_code == HTTPStatus.OK
    assert any("last owner" in message for message in shown_messages(response))
    assert memberships(organization) == before
    assert chain(organization) == []


def test_staff_removing_a_member_is_audited(staff_client, operator, customer):
    organization = customer["organization"]
    admin = customer["admin"]

    response = staff_client.post(
        reverse("admin:accounts_membership_delete", args=[admin.id]), {"post": "yes"}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert memberships(organization) == [(customer["owner"].user.email, "owner")]
    assert chain(organization) == [
        (
            f"staff:{operator.email}",
            "membership_changed",
            membership_change_detail(admin.user, "admin", None),
        )
    ]


# -- No admin path sets or learns a password; login addresses stay the user's own. --


def test_staff_cannot_delete_a_user_and_so_their_memberships(staff_client, customer):
    organization = customer["organization"]
    owner = customer["owner"].user
    before = memberships(organization)

    page = staff_client.post(
        reverse("admin:accounts_user_delete", args=[owner.id]), {"post": "yes"}
    )
    bulk = staff_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "delete_selected", "index": 0, ACTION_CHECKBOX_NAME: [owner.id], "post": "yes"},
    )

    assert page.status_code == HTTPStatus.FORBIDDEN
    assert bulk.status_code == HTTPStatus.FOUND  # "no action selected": it is not offered
    assert User.objects.filter(id=owner.id).exists()
    assert memberships(organization) == before


def test_no_admin_page_sets_another_users_password(staff_client, customer):
    victim = customer["owner"].user
    # Where Django's user admin has its password form.
    page = f"/admin/accounts/user/{victim.id}/password/"
    posted = {"password1": ATTACKER_PASSWORD, "password2": ATTACKER_PASSWORD}

    form = staff_client.get(page, follow=True)
    response = staff_client.post(page, posted, follow=True)

    for answer in (form, response):
        assert answer.status_code == HTTPStatus.OK
        assert answer.redirect_chain[-1][0] == reverse("admin:index")
        assert 'name="password1"' not in answer.content.decode()
    victim.refresh_from_db()
    assert victim.check_password(DEFAULT_PASSWORD)
    assert not victim.check_password(ATTACKER_PASSWORD)


def test_the_user_page_has_no_password_link_and_cannot_change_the_login_address(
    staff_client, customer
):
    victim = customer["owner"].user
    page = reverse("admin:accounts_user_change", args=[victim.id])

    form = staff_client.get(page)
    # Changing the address, then asking for a password reset, would take the account over.
    staff_client.post(
        page,
        {
            "email": "attacker@example.com",
            "name": "Mallory",
            "is_active": "on",
            "password": "pbkdf2_sha256$1$x$y",
        },
    )

    content = form.content.decode()
    assert form.status_code == HTTPStatus.OK
    assert "password/" not in content
    assert 'name="email"' not in content
    victim.refresh_from_db()
    assert victim.email == customer["owner"].user.email
    assert victim.check_password(DEFAULT_PASSWORD)


def test_staff_send_a_password_reset_email_instead(staff_client, customer):
    victim = customer["owner"].user

    response = staff_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "send_password_reset", "index": 0, ACTION_CHECKBOX_NAME: [victim.id]},
        follow=True,
    )

    assert response.status_code == HTTPStatus.OK
    assert [message.to for message in mail.outbox] == [[victim.email]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
    assert shown_messages(response) == [f"Password reset email sent to {victim.email}."]
    victim.refresh_from_db()
    assert victim.check_password(DEFAULT_PASSWORD)


def test_a_superuser_adds_a_user_by_email_only_and_the_person_sets_their_password(
    staff_client,
):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@example.com",
            "password1": ATTACKER_PASSWORD,
            "password2": ATTACKER_PASSWORD,
            "usable_password": "true",
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    user = User.objects.get(email="new.person@example.com")
    assert not user.has_usable_password()
    assert not user.check_password(ATTACKER_PASSWORD)
    assert [message.to for message in mail.outbox] == [["new.person@example.com"]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_email_addresses_are_read_only_in_the_admin(staff_client, customer):
    victim = customer["owner"].user
    address = EmailAddress.objects.create(
        user=victim, email=victim.email, verified=True, primary=True
    )

    add = staff_client.post(
        reverse("admin:account_emailaddress_add"),
        {"user": victim.id, "email": "attacker@example.com", "verified": "on", "primary": "on"},
    )
    change = staff_client.post(
        reverse("admin:account_emailaddress_change", args=[address.id]),
        {"user": victim.id, "email": "attacker@example.com", "verified": "on", "primary": "on"},
    )

    assert add.status_code == HTTPStatus.FORBIDDEN
    assert change.status_code == HTTPStatus.FORBIDDEN
    assert list(EmailAddress.objects.filter(user=victim).values_list("email", flat=True)) == [
        victim.email
    ]
    assert not EmailAddress.objects.filter(email="attacker@example.com").exists()


# -- Only superusers grant permissions. --


@pytest.fixture
def user_manager(client):
    """Staff who may change users (a support role), but are not superusers."""
    user = staff_user(superuser=False)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["accounts", "auth"],
            codename__in=["view_user", "change_user", "view_group", "change_group", "add_group"],
        )
    )
    sign_in_with_mfa(client, user)
    return user


def test_staff_who_are_not_superusers_cannot_make_themselves_superuser(client, user_manager):
    page = reverse("admin:accounts_user_change", args=[user_manager.id])

    client.post(
        page,
        {
            "email": user_manager.email,
            "name": "me",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "user_permissions": list(Permission.objects.values_list("id", flat=True)),
        },
    )

    user_manager.refresh_from_db()
    assert user_manager.is_superuser is False
    assert user_manager.user_permissions.count() == 5


def test_staff_who_are_not_superusers_cannot_edit_groups(client, user_manager):
    group = Group.objects.create(name="operators")
    user_manager.groups.add(group)

    add = client.post(reverse("admin:auth_group_add"), {"name": "everything"})
    change = client.post(
        reverse("admin:auth_group_change", args=[group.id]),
        {"name": "operators", "permissions": list(Permission.objects.values_list("id", flat=True))},
    )

    assert add.status_code == HTTPStatus.FORBIDDEN
    assert change.status_code == HTTPStatus.FORBIDDEN
    assert list(Group.objects.values_list("name", flat=True)) == ["operators"]
    assert group.permissions.count() == 0


def test_staff_see_the_event_retention_but_cannot_change_it_in_the_admin(staff_client, customer):
    project = customer["project"]
    project.keep_events_months = 13
    project.save(update_fields=["keep_events_months"])
    page = reverse("admin:projects_project_change", args=[project.id])

    form = staff_client.get(page)
    response = staff_client.post(page, {"name": project.name, "keep_events_months": "1"})

    content = form.content.decode()
    assert "Keeps events for 13 months" in content
    assert 'name="keep_events_months"' not in content
    assert response.status_code == HTTPStatus.FOUND
    project.refresh_from_db()
    assert project.keep_events_months == 13
