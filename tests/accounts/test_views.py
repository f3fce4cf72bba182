import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.forms import RESET_CONFIRMATION_LABEL
from accounts.models import GdprToken, Invitation, Membership, Role, User
from accounts.services import gdpr_token_issue, gdpr_token_verify

pytestmark = pytest.mark.django_db


def members_url(organization) -> str:
    return reverse("accounts:members", args=[organization.id])


def role_url(membership) -> str:
    return reverse("accounts:member_role", args=[membership.organization_id, membership.id])


def remove_url(membership) -> str:
    return reverse("accounts:member_remove", args=[membership.organization_id, membership.id])


def membership_of(user, organization) -> Membership:
    return Membership.objects.get(user=user, organization=organization)


def memberships_snapshot(organization) -> list[tuple[str, str]]:
    return sorted(
        Membership.objects.filter(organization=organization).values_list("user__email", "role")
    )


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def assert_shown(response, text: str) -> None:
    assert text in shown_messages(response)
    assert escape(text) in response.content.decode()


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


# --- members page: owners ------------------------------------------------------------------


def test_owner_sees_every_member_with_role_and_date(signed_in, organization, owner, member):
    response = signed_in(owner).get(members_url(organization))

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert owner.email in page
    assert member.email in page
    created = membership_of(member, organization).created_at
    assert f'datetime="{created.isoformat()}"' in page
    # The owner is offered every role, and a labelled select for the member's row.
    assert '<option value="owner"' in page
    row_select = f'id="id_member_{membership_of(member, organization).id}_role"'
    assert row_select in page
    assert f"Role of {member.email}" in page
    assert remove_url(membership_of(member, organization)) in page


def test_sole_owner_row_offers_no_demote_or_remove(signed_in, organization, owner):
    membership = membership_of(owner, organization)

    page = signed_in(owner).get(members_url(organization)).content.decode()

    assert remove_url(membership) not in page
    assert role_url(membership) not in page
    assert "The only owner: make someone else owner before changing this role." in page


def test_adding_someone_who_is_already_a_member_changes_nothing(
    signed_in, organization, owner, member
):
    before = memberships_snapshot(organization)

    response = signed_in(owner).post(
        members_url(organization), {"email": member.email.upper(), "role": "admin"}
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {
        "email": [
            f"{member.email} is already a member (Member). Change their role in the list instead."
        ]
    }
    assert "No invitation was sent." in response.content.decode()
    assert memberships_snapshot(organization) == before
    assert Invitation.objects.count() == 0
    assert mail.outbox == []


def test_adding_an_invalid_email_shows_a_form_error(signed_in, organization, owner):
    users_before = User.objects.count()

    response = signed_in(owner).post(
        members_url(organization), {"email": "not-an-email", "role": "member"}
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {"email": ["Enter a valid email address."]}
    assert User.objects.count() == users_before
    assert Invitation.objects.count() == 0


def test_owner_changes_a_role(signed_in, organization, owner, member):
    membership = membership_of(member, organization)

    response = signed_in(owner).post(role_url(membership), {"role": "admin"}, follow=True)

    assert response.redirect_chain == [(members_url(organization), HTTPStatus.FOUND)]
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert_shown(response, f"{member.email} is now Admin.")


def test_owner_demotes_another_owner_when_one_remains(signed_in, organization, owner, make_member):
    other_owner = make_member(Role.OWNER)

    response = signed_in(owner).post(
        role_url(membership_of(other_owner, organization)), {"role": "member"}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert membership_of(other_owner, organization).role == Role.MEMBER


def test_owner_removes_a_member_after_confirming(signed_in, organization, owner, member):
    membership = membership_of(member, organization)
    client = signed_in(owner)

    confirm = client.get(remove_url(membership))
    assert confirm.status_code == HTTPStatus.OK
    assert f"Remove {member.email} from {organization.name}?" in confirm.content.decode()
    assert Membership.objects.filter(id=membership.id).exists()

    response = client.post(remove_url(membership), follow=True)

    assert response.redirect_chain == [(members_url(organization), HTTPStatus.FOUND)]
    assert not Membership.objects.filter(id=membership.id).exists()
    assert User.objects.filter(id=member.id).exists()
    assert_shown(response, f"{member.email} was removed from {organization.name}.")


@pytest.mark.parametrize("role", ["admin", "member"])
def test_last_owner_cannot_be_demoted(signed_in, organization, owner, member, role):
    membership = membership_of(owner, organization)

    response = signed_in(owner).post(role_url(membership), {"role": role}, follow=True)

    assert response.redirect_chain == [(members_url(organization), HTTPStatus.FOUND)]
    assert_shown(
        response,
        f"The role of {owner.email} was not changed. "
        "The last owner cannot be demoted: make someone else owner first.",
    )
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_last_owner_cannot_be_removed(signed_in, organization, owner, member):
    membership = membership_of(owner, organization)

    response = signed_in(owner).post(remove_url(membership), follow=True)

    assert response.redirect_chain == [(members_url(organization), HTTPStatus.FOUND)]
    assert_shown(
        response,
        f"{owner.email} was not removed. "
        "The last owner cannot be removed: make someone else owner first.",
    )
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_owner_who_leaves_is_sent_home(signed_in, organization, owner, make_member):
    make_member(Role.OWNER)

    response = signed_in(owner).post(remove_url(membership_of(owner, organization)))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("home")
    assert not Membership.objects.filter(user=owner, organization=organization).exists()


# --- members page: admins ------------------------------------------------------------------


def test_admin_is_not_offered_the_owner_role_or_controls_on_owner_rows(
    signed_in, organization, owner, admin_user, member
):
    page = signed_in(admin_user).get(members_url(organization)).content.decode()

    assert 'value="owner"' not in page
    owner_membership = membership_of(owner, organization)
    assert role_url(owner_membership) not in page
    assert remove_url(owner_membership) not in page
    assert "Only owners can change or remove an owner." in page
    assert role_url(membership_of(member, organization)) in page
    assert remove_url(membership_of(member, organization)) in page


def test_admin_cannot_add_an_owner(signed_in, organization, owner, admin_user):
    before = memberships_snapshot(organization)

    response = signed_in(admin_user).post(
        members_url(organization), {"email": "carol@example.com", "role": "owner"}
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {
        "role": ["Choose Admin or Member: only owners can grant the owner role."]
    }
    assert memberships_snapshot(organization) == before
    assert not User.objects.filter(email="carol@example.com").exists()
    assert Invitation.objects.count() == 0
    assert mail.outbox == []


def test_admin_cannot_promote_anyone_to_owner(signed_in, organization, owner, admin_user, member):
    before = memberships_snapshot(organization)

    response = signed_in(admin_user).post(
        role_url(membership_of(member, organization)), {"role": "owner"}, follow=True
    )

    assert response.redirect_chain == [(members_url(organization), HTTPStatus.FOUND)]
    assert_shown(
        response,
        f"The role of {member.email} was not changed. "
        "Choose Admin or Member: only owners can grant the owner role.",
    )
    assert memberships_snapshot(organization) == before


@pytest.mark.parametrize("role", ["admin", "member"])
def test_admin_cannot_demote_an_owner(
    signed_in, organization, owner, admin_user, make_member, role
):
    make_member(Role.OWNER)  # so that only the admin's role stands in the way
    before = memberships_snapshot(organization)

    response = signed_in(admin_user).post(
        role_url(membership_of(owner, organization)), {"role": role}, follow=True
    )

    assert_shown(
        response,
        f"The role of {owner.email} was not changed. "
        "Only owners can grant or revoke the owner role.",
    )
    assert memberships_snapshot(organization) == before


def test_admin_cannot_remove_an_owner(signed_in, organization, owner, admin_user, make_member):
    make_member(Role.OWNER)
    before = memberships_snapshot(organization)

    response = signed_in(admin_user).post(
        remove_url(membership_of(owner, organization)), follow=True
    )

    assert_shown(response, f"{owner.email} was not removed. Only owners can remove an owner.")
    assert memberships_snapshot(organization) == before


def test_admin_who_demotes_themselves_is_sent_home(signed_in, organization, owner, admin_user):
    response = signed_in(admin_user).post(
        role_url(membership_of(admin_user, organization)), {"role": "member"}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("home")
    assert membership_of(admin_user, organization).role == Role.MEMBER


# --- members page: everyone else -----------------------------------------------------------


def member_requests(organization, target):
    return [
        ("get", members_url(organization), {}),
        ("post", members_url(organization), {"email": "eve@example.com", "role": "member"}),
        ("post", role_url(target), {"role": "owner"}),
        ("get", remove_url(target), {}),
        ("post", remove_url(target), {}),
    ]


@pytest.mark.parametrize("index", range(5))
def test_member_is_forbidden_everything(signed_in, organization, owner, member, index):
    target = membership_of(owner, organization)
    method, url, data = member_requests(organization, target)[index]
    before = memberships_snapshot(organization)

    response = getattr(signed_in(member), method)(url, data)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert (
        f"Only owners and admins of {organization.name} can see and manage its members."
        in response.content.decode()
    )
    assert memberships_snapshot(organization) == before
    assert not User.objects.filter(email="eve@example.com").exists()
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize("index", range(5))
def test_user_of_another_organization_gets_404(signed_in, organization, owner, outsider, index):
    target = membership_of(owner, organization)
    method, url, data = member_requests(organization, target)[index]
    before = memberships_snapshot(organization)

    response = getattr(signed_in(outsider), method)(url, data)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert organization.name not in response.content.decode()
    assert memberships_snapshot(organization) == before
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize("index", range(5))
def test_anonymous_is_sent_to_sign_in(client, organization, owner, index):
    target = membership_of(owner, organization)
    method, url, data = member_requests(organization, target)[index]
    before = memberships_snapshot(organization)

    response = getattr(client, method)(url, data)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{reverse('account_login')}?next={url}"
    assert memberships_snapshot(organization) == before


def test_membership_of_another_organization_cannot_be_touched(
    signed_in, organization, owner, outsider
):
    foreign = Membership.objects.get(user=outsider)
    url = reverse("accounts:member_role", args=[organization.id, foreign.id])

    response = signed_in(owner).post(url, {"role": "member"}, follow=True)

    assert_shown(response, "This person is no longer a member of the organization.")
    foreign.refresh_from_db()
    assert foreign.role == Role.OWNER


def test_member_forms_require_csrf(organization, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post(members_url(organization), {"email": "x@example.com", "role": "member"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not User.objects.filter(email="x@example.com").exists()
    assert Invitation.objects.count() == 0


# --- personal settings ---------------------------------------------------------------------

SETTINGS_URL = "/settings/"
RESET_URL = "/settings/gdpr-token/"
CREATED_URL = "/settings/gdpr-token/new/"


def token_in(response) -> str:
    match = re.search(r'id="gdpr-token">([^<]+)</code>', response.content.decode())
    assert match is not None
    return match.group(1)


def test_settings_urls_are_where_the_design_says():
    assert reverse("accounts:personal_settings") == SETTINGS_URL
    assert reverse("accounts:gdpr_token_reset") == RESET_URL


def test_settings_page_shows_email_and_no_token_yet(signed_in, owner):
    response = signed_in(owner).get(SETTINGS_URL)

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert owner.email in page
    assert "Data &amp; Privacy" in page
    assert "You have no GDPR API token yet." in page
    assert "Create token" in page


def test_settings_page_shows_token_status(signed_in, owner):
    gdpr_token_issue(user=owner)
    token = GdprToken.objects.get(user=owner)

    page = signed_in(owner).get(SETTINGS_URL).content.decode()

    assert ">Active<" in page
    assert f'datetime="{token.created_at.isoformat()}"' in page
    assert f'datetime="{token.expires_at.isoformat()}"' in page
    assert "<dt>Last used</dt><dd>Never</dd>" in page
    assert RESET_CONFIRMATION_LABEL in page


def test_settings_page_flags_an_expired_token(signed_in, owner):
    gdpr_token_issue(user=owner)
    used = timezone.now() - timedelta(days=2)
    GdprToken.objects.filter(user=owner).update(
        expires_at=timezone.now() - timedelta(days=1), last_used_at=used
    )

    page = signed_in(owner).get(SETTINGS_URL).content.decode()

    assert '<strong class="status-expired">Expired</strong>' in page
    assert f'datetime="{used.isoformat()}"' in page


def test_reset_without_confirmation_changes_nothing(signed_in, owner):
    raw = gdpr_token_issue(user=owner)
    before = GdprToken.objects.values().get(user=owner)

    response = signed_in(owner).post(RESET_URL, {})

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {
        "confirm": ["Tick the box to confirm: the current token stops working at once."]
    }
    assert GdprToken.objects.values().get(user=owner) == before
    assert gdpr_token_verify(raw_token=raw) == owner
    assert 'id="gdpr-token"' not in response.content.decode()


def test_reset_with_confirmation_redirects_to_the_new_token_shown_once(signed_in, owner):
    old = gdpr_token_issue(user=owner)
    client = signed_in(owner)

    response = client.post(RESET_URL, {"confirm": "on"})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == CREATED_URL
    shown = client.get(CREATED_URL)
    assert shown.status_code == HTTPStatus.OK
    assert shown["Cache-Control"] == "no-store"
    new = token_in(shown)
    assert new != old
    assert "Your previous token has stopped working." in shown.content.decode()
    assert gdpr_token_verify(raw_token=new) == owner
    assert gdpr_token_verify(raw_token=old) is None
    assert GdprToken.objects.filter(user=owner).count() == 1
    assert not any(key.startswith("shown-once:") for key in client.session.keys())

    later = client.get(SETTINGS_URL)
    assert later.status_code == HTTPStatus.OK
    assert new not in later.content.decode()
    assert ">Active<" in later.content.decode()


def test_reloading_the_new_token_page_says_already_shown_and_rotates_nothing(signed_in, owner):
    client = signed_in(owner)
    client.post(RESET_URL, {"confirm": "on"})
    new = token_in(client.get(CREATED_URL))
    before = GdprToken.objects.values().get(user=owner)

    reload = client.get(CREATED_URL)

    assert reload.status_code == HTTPStatus.OK
    assert reload["Cache-Control"] == "no-store"
    page = reload.content.decode()
    assert 'id="gdpr-token"' not in page
    assert new not in page
    assert "This token was already shown." in page
    assert "the token you copied still works" in page
    assert f'href="{SETTINGS_URL}#data-privacy"' in page
    assert GdprToken.objects.values().get(user=owner) == before
    assert gdpr_token_verify(raw_token=new) == owner


def test_the_new_token_page_of_another_session_shows_nothing(signed_in, owner, admin_user):
    signed_in(owner).post(RESET_URL, {"confirm": "on"})

    page = signed_in(admin_user).get(CREATED_URL).content.decode()

    assert "This token was already shown." in page
    assert GdprToken.objects.filter(user=admin_user).count() == 0


def test_a_member_is_offered_no_token_and_cannot_make_one(signed_in, member):
    client = signed_in(member)

    page = client.get(SETTINGS_URL).content.decode()
    response = client.post(RESET_URL, {"confirm": "on"})

    assert "You are not an owner or admin in any" in page
    assert "Create token" not in page
    assert "Reset token" not in page
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "A GDPR API token works only for owners and admins" in response.content.decode()
    assert GdprToken.objects.filter(user=member).count() == 0


def test_get_on_the_reset_url_changes_nothing(signed_in, owner):
    raw = gdpr_token_issue(user=owner)

    response = signed_in(owner).get(RESET_URL)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{SETTINGS_URL}#data-privacy"
    assert gdpr_token_verify(raw_token=raw) == owner


@pytest.mark.parametrize(
    ("method", "url", "data"), [("get", SETTINGS_URL, {}), ("post", RESET_URL, {"confirm": "on"})]
)
def test_anonymous_is_sent_to_sign_in_from_settings(client, method, url, data):
    response = getattr(client, method)(url, data)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{reverse('account_login')}?next={url}"
    assert GdprToken.objects.count() == 0
