"""Invitations (issue 15, finding 7): nobody becomes a member from the members page without
accepting, from an emailed link, signed in with the invited address; the inviter learns nothing
about whether the address has an account.

The attack this replaces: any signed-up user added any address as admin of their organization at
once, emailed it with an organization name of their choosing, and read in the success message
whether the address had an account.
"""

import hashlib
import re
import smtplib
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.actors import OPERATOR, Actor
from accounts.errors import InvitationRefused, NotAllowed
from accounts.invitations import invitation_accept, invitation_create, invitation_revoke
from accounts.models import Invitation, Membership, Role, User
from accounts.services import membership_add_by_email, membership_change_role
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditEntry
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/invitations/([^/\s]+)/)")


def members_url(organization) -> str:
    return reverse("accounts:members", args=[organization.id])


def revoke_url(invitation) -> str:
    return reverse("accounts:invitation_revoke", args=[invitation.organization_id, invitation.id])


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def invite(client, organization, email: str, role: str = "member"):
    return client.post(members_url(organization), {"email": email, "role": role}, follow=True)


def link_in(message) -> str:
    """The path of the invitation link in an email."""
    match = LINK.search(message.body)
    assert match is not None, message.body
    return match.group(1)


def token_of(path: str) -> str:
    return path.strip("/").rsplit("/", 1)[1]


def memberships(organization) -> list[tuple[str, str]]:
    return sorted(
        Membership.objects.filter(organization=organization).values_list("user__email", "role")
    )


def chain(organization) -> list[tuple[str, dict]]:
    return list(
        AuditEntry.objects.filter(organization=organization)
        .order_by("seq")
        .values_list("actor", "detail")
    )


@pytest.fixture(autouse=True)
def allauth_rate_limits_forgotten():
    """allauth counts confirmation emails per address in the cache, which outlives a test."""
    yield
    cache.clear()


@pytest.fixture
def signed_in():
    def sign_in(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def alice(db):
    """A person with an account whose address is confirmed."""
    user = UserFactory(email="alice@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


# --- sending ------------------------------------------------------------------------------


def test_an_invitation_emails_a_single_link_and_makes_nobody_a_member(
    signed_in, organization, owner, alice
):
    before = memberships(organization)

    response = invite(signed_in(owner), organization, "Alice@Example.com", "admin")

    assert response.redirect_chain == [(members_url(organization), HTTPStatus.FOUND)]
    assert memberships(organization) == before
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role) == ("alice@example.com", Role.ADMIN)
    assert invitation.invited_by == owner
    assert invitation.expires_at == invitation.created_at + timedelta(days=7)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    # The subject carries nothing the inviter chose; the body quotes it, names the inviter.
    assert message.subject == "Invitation to join an organization on Privacy requests"
    assert f'{owner.email} invites alice@example.com to join the organization "' in message.body
    assert "Nothing happens unless you accept." in message.body
    links = re.findall(r"https?://\S+", message.body)
    assert links == [f"http://testserver{link_in(message)}"]
    token = token_of(link_in(message))
    # 32 random bytes or more (URL-safe base64 after the prefix), of which only a hash is kept.
    assert token.startswith("inv_") and len(token) >= 4 + 43
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not Invitation.objects.filter(token_hash=token).exists()
    page = response.content.decode()
    assert "alice@example.com" in page and "Withdraw" in page
    assert token not in page


def test_the_inviter_reads_the_same_words_whether_or_not_the_address_has_an_account(
    signed_in, organization, owner, alice
):
    client = signed_in(owner)
    users_before = User.objects.count()

    known = invite(client, organization, "alice@example.com")
    unknown = invite(client, organization, "nobody@example.com")

    known_words = [text.replace("alice@example.com", "X") for text in shown_messages(known)]
    unknown_words = [text.replace("nobody@example.com", "X") for text in shown_messages(unknown)]
    assert known_words == unknown_words
    assert known_words[0].startswith(
        "We sent an invitation to X to join as Member. They become a member when they accept "
        "it; the link works until "
    )
    known_mail, unknown_mail = mail.outbox
    assert known_mail.subject == unknown_mail.subject
    assert re.sub(r"alice@example.com|inv_\S+", "", known_mail.body) == re.sub(
        r"nobody@example.com|inv_\S+", "", unknown_mail.body
    )
    assert User.objects.count() == users_before  # no account is made for an invitation


def test_a_new_invitation_to_the_same_address_replaces_the_old_link(
    signed_in, organization, owner, alice
):
    client = signed_in(owner)
    invite(client, organization, "alice@example.com", "member")
    old_link = link_in(mail.outbox[0])
    invite(client, organization, "alice@example.com", "admin")
    new_link = link_in(mail.outbox[1])

    assert Invitation.objects.filter(revoked_at__isnull=True).get().role == Role.ADMIN
    alice_client = signed_in(alice)
    assert alice_client.post(old_link).status_code == HTTPStatus.NOT_FOUND
    assert memberships(organization) == [(owner.email, "owner")]
    assert alice_client.post(new_link).status_code == HTTPStatus.FOUND
    assert (alice.email, "admin") in memberships(organization)


def test_inviting_a_member_again_is_a_form_error_and_sends_nothing(
    signed_in, organization, owner, member
):
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
    assert Invitation.objects.count() == 0
    assert mail.outbox == []


def test_an_email_that_cannot_be_sent_leaves_no_usable_invitation(
    signed_in, organization, owner, monkeypatch
):
    def broken_send_mail(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("accounts.invitation_views.send_mail", broken_send_mail)

    response = invite(signed_in(owner), organization, "dan@example.com")

    assert response.status_code == HTTPStatus.OK
    assert shown_messages(response) == [
        "We could not send the invitation email to dan@example.com, so no invitation was made. "
        "Try again later."
    ]
    invitation = Invitation.objects.get()
    assert invitation.revoked_at is not None
    assert "No invitation is waiting for an answer." in response.content.decode()


def test_an_organization_sends_at_most_its_daily_share(signed_in, organization, owner, settings):
    settings.PRIVACY_INVITATIONS_PER_DAY = 2
    client = signed_in(owner)
    invite(client, organization, "one@example.com")
    invite(client, organization, "two@example.com")

    response = invite(client, organization, "three@example.com")

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].non_field_errors() == [
        f"{organization.name} has sent 2 invitations in the last 24 hours, the most it may: try "
        "again later."
    ]
    assert sorted(Invitation.objects.values_list("email", flat=True)) == [
        "one@example.com",
        "two@example.com",
    ]
    assert len(mail.outbox) == 2
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert invite(client, organization, "three@example.com").redirect_chain


# --- accepting ------------------------------------------------------------------------------


def test_an_existing_user_accepts_signed_in_and_the_change_is_audited(
    signed_in, organization, owner, alice
):
    invite(signed_in(owner), organization, "alice@example.com", "admin")
    link = link_in(mail.outbox[0])
    client = signed_in(alice)

    page = client.get(link)
    assert page.status_code == HTTPStatus.OK
    assert page["Cache-Control"] == "no-store"
    assert page["Referrer-Policy"] == "no-referrer"
    text = page.content.decode()
    assert f"Accept and join {organization.name}" in text
    assert memberships(organization) == [(owner.email, "owner")]  # a GET accepts nothing

    response = client.post(link, follow=True)

    assert response.redirect_chain == [(reverse("projects:list"), HTTPStatus.FOUND)]
    assert shown_messages(response) == [f"You joined {organization.name} as Admin."]
    assert (alice.email, "admin") in memberships(organization)
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == alice and invitation.accepted_at is not None
    assert chain(organization) == [
        (
            f"web:{owner.email}",
            {"invitation_id": invitation.id, "email": alice.email, "role": "admin"},
        ),
        (
            f"web:{alice.email}",
            {
                "user_id": alice.id,
                "email": alice.email,
                "role_before": None,
                "role_after": "admin",
                "invitation_id": invitation.id,
                "invited_by": f"web:{owner.email}",
            },
        ),
    ]
    assert audit_verify(organization_id=organization.id) is None


def test_a_link_works_once(signed_in, organization, owner, alice):
    invite(signed_in(owner), organization, "alice@example.com")
    link = link_in(mail.outbox[0])
    client = signed_in(alice)
    assert client.post(link).status_code == HTTPStatus.FOUND
    membership_id = Membership.objects.get(user=alice, organization=organization).id
    Membership.objects.filter(id=membership_id).delete()  # removed since

    again = client.post(link)

    assert again.status_code == HTTPStatus.NOT_FOUND
    assert "This invitation link cannot be used" in again.content.decode()
    assert (alice.email, "member") not in memberships(organization)


def test_an_expired_link_cannot_be_used(signed_in, organization, owner, alice):
    invite(signed_in(owner), organization, "alice@example.com")
    link = link_in(mail.outbox[0])
    expires_at = Invitation.objects.get().expires_at
    client = signed_in(alice)

    with time_machine.travel(expires_at, tick=False):
        refused = client.post(link)
        shown = signed_in(owner).get(members_url(organization)).content.decode()
    with time_machine.travel(expires_at - timedelta(seconds=1), tick=False):
        page = client.get(link)

    assert refused.status_code == HTTPStatus.NOT_FOUND
    assert memberships(organization) == [(owner.email, "owner")]
    assert "<strong>Expired</strong>" in shown
    assert page.status_code == HTTPStatus.OK


def test_a_withdrawn_link_cannot_be_used(signed_in, organization, owner, alice):
    owner_client = signed_in(owner)
    invite(owner_client, organization, "alice@example.com")
    link = link_in(mail.outbox[0])
    invitation = Invitation.objects.get()

    withdrawn = owner_client.post(revoke_url(invitation), follow=True)

    assert shown_messages(withdrawn) == [
        "The invitation to alice@example.com was withdrawn: its link no longer works."
    ]
    assert "No invitation is waiting for an answer." in withdrawn.content.decode()
    invitation.refresh_from_db()
    assert invitation.revoked_by == f"web:{owner.email}"
    assert signed_in(alice).post(link).status_code == HTTPStatus.NOT_FOUND
    assert memberships(organization) == [(owner.email, "owner")]


@pytest.mark.parametrize("token", ["inv_unknown", "x" * 500, "inv_é", "inv_%00"])
def test_a_link_that_names_no_invitation_is_one_page(client, token):
    response = client.get(f"/invitations/{token}/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "This invitation link cannot be used" in response.content.decode()


def test_someone_signed_in_with_another_address_cannot_accept(
    signed_in, organization, owner, outsider
):
    invite(signed_in(owner), organization, "alice@example.com", "admin")
    link = link_in(mail.outbox[0])
    client = signed_in(outsider)

    page = client.get(link)
    response = client.post(link)

    assert page.status_code == HTTPStatus.OK
    assert f"You are signed in as {outsider.email}, but this invitation is for" in (
        page.content.decode()
    )
    assert "Accept and join" not in page.content.decode()
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert memberships(organization) == [(owner.email, "owner")]
    assert Invitation.objects.get().is_open


def test_the_inviter_cannot_accept_their_own_invitation_for_someone_else(
    signed_in, organization, owner
):
    invite(signed_in(owner), organization, "mallory@example.com", "owner")
    link = link_in(mail.outbox[0])

    response = signed_in(owner).post(link)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert memberships(organization) == [(owner.email, "owner")]
    assert not User.objects.filter(email="mallory@example.com").exists()


def test_signed_out_the_page_leads_to_sign_in_and_sign_up_and_accepts_nothing(
    client, signed_in, organization, owner
):
    invite(signed_in(owner), organization, "alice@example.com")
    link = link_in(mail.outbox[0])

    page = client.get(link)
    post = client.post(link)

    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    assert f'href="/accounts/login/?next={link.replace("/", "%2F")}"' in text
    assert f'href="/accounts/signup/?next={link.replace("/", "%2F")}"' in text
    assert post.status_code == HTTPStatus.FOUND
    assert post["Location"].startswith("/accounts/login/?next=")
    assert Invitation.objects.get().is_open


def confirmation_path(message) -> str:
    match = re.search(r"http://testserver(/accounts/confirm-email/[^/\s]+/)", message.body)
    assert match is not None, message.body
    return match.group(1)


def test_a_new_person_signs_up_from_the_link_confirms_the_address_and_accepts(
    client, signed_in, organization, owner
):
    invite(signed_in(owner), organization, "Newcomer@example.com", "admin")
    link = link_in(mail.outbox[0])
    mail.outbox.clear()

    assert client.get(link).status_code == HTTPStatus.OK
    signup = client.post(
        f"{reverse('account_signup')}?next={link}",
        {"email": "newcomer@example.com", "password1": DEFAULT_PASSWORD,
         "password2": DEFAULT_PASSWORD, "next": link},
    )  # fmt: skip
    # The link vouches for no address: allauth's confirmation email comes first.
    assert signup["Location"] == reverse("account_email_verification_sent")
    person = User.objects.get(email="newcomer@example.com")
    assert EmailAddress.objects.get(user=person).verified is False
    assert not Membership.objects.filter(user=person, organization=organization).exists()
    (confirmation,) = mail.outbox
    confirmed = client.post(confirmation_path(confirmation))
    # Confirmed in the same browser, allauth signs them in and brings them back to the link.
    assert confirmed.status_code == HTTPStatus.FOUND
    assert confirmed["Location"] == link
    assert EmailAddress.objects.get(user=person).verified is True
    assert client.get(link).status_code == HTTPStatus.OK

    accepted = client.post(link)

    assert accepted.status_code == HTTPStatus.FOUND
    assert Membership.objects.get(user=person, organization=organization).role == Role.ADMIN


def test_a_link_lends_its_address_to_no_sign_up(client, signed_in, organization, owner):
    invite(signed_in(owner), organization, "alice@example.com")
    link = link_in(mail.outbox[0])
    mail.outbox.clear()

    client.get(link)
    signup = client.post(
        reverse("account_signup"),
        {"email": "eve@example.com", "password1": DEFAULT_PASSWORD,
         "password2": DEFAULT_PASSWORD, "next": link},
    )  # fmt: skip

    assert signup["Location"] == reverse("account_email_verification_sent")
    eve = User.objects.get(email="eve@example.com")
    assert list(EmailAddress.objects.filter(user=eve).values_list("email", "verified")) == [
        ("eve@example.com", False)
    ]
    assert [message.to for message in mail.outbox] == [["eve@example.com"]]
    assert not Membership.objects.filter(user=eve, organization=organization).exists()


def test_an_unconfirmed_account_of_the_address_cannot_accept(signed_in, organization, owner, alice):
    invite(signed_in(owner), organization, "alice@example.com")
    link = link_in(mail.outbox[0])
    EmailAddress.objects.filter(user=alice).update(verified=False)
    client = signed_in(alice)

    page = client.get(link)
    response = client.post(link)

    assert "Your address alice@example.com is not confirmed yet." in page.content.decode()
    assert "Accept and join" not in page.content.decode()
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert memberships(organization) == [(owner.email, "owner")]


def test_someone_already_a_member_keeps_their_role_and_uses_up_the_link(
    signed_in, organization, owner, alice
):
    invite(signed_in(owner), organization, "alice@example.com", "member")
    link = link_in(mail.outbox[0])
    call_command("addmember", "--org", organization.name, "--email", alice.email, "--role", "owner")

    response = signed_in(alice).post(link, follow=True)

    assert shown_messages(response) == [
        f"You were already a member of {organization.name} (Owner); your role is unchanged."
    ]
    assert (alice.email, "owner") in memberships(organization)
    assert Invitation.objects.get().accepted_by == alice


@pytest.mark.parametrize("change", ["demoted", "removed", "deactivated"])
def test_an_inviter_who_lost_the_role_can_no_longer_grant_it(
    signed_in, organization, owner, make_member, alice, change
):
    other_owner = make_member(Role.OWNER)
    invite(signed_in(other_owner), organization, "alice@example.com", "owner")
    link = link_in(mail.outbox[0])
    inviter = Membership.objects.get(user=other_owner, organization=organization)
    if change == "demoted":
        membership_change_role(actor=Actor(user=owner, via="web"), membership=inviter, role="admin")
    elif change == "removed":
        inviter.delete()
    else:
        User.objects.filter(id=other_owner.id).update(is_active=False)
    before = memberships(organization)

    response = signed_in(alice).post(link)

    assert response.status_code == HTTPStatus.CONFLICT
    assert (
        "Whoever invited you can no longer grant this role: ask an owner or admin of the "
        "organization for a new invitation." in response.content.decode()
    )
    assert memberships(organization) == before
    assert Invitation.objects.get().is_open


# --- who may invite and withdraw -----------------------------------------------------------


def test_admins_invite_admins_and_members_but_not_owners(signed_in, organization, admin_user):
    client = signed_in(admin_user)

    for role in ("admin", "member"):
        assert invite(client, organization, f"{role}@example.com", role).redirect_chain
    refused = client.post(members_url(organization), {"email": "o@example.com", "role": "owner"})

    assert refused.context["form"].errors == {
        "role": ["Choose Admin or Member: only owners can grant the owner role."]
    }
    assert sorted(Invitation.objects.values_list("email", "role")) == [
        ("admin@example.com", "admin"),
        ("member@example.com", "member"),
    ]
    with pytest.raises(NotAllowed, match="Only owners can grant or revoke the owner role."):
        invitation_create(
            actor=Actor(user=admin_user, via="web"),
            organization=organization,
            email="o@example.com",
            role="owner",
        )


def test_only_owners_withdraw_an_invitation_to_the_owner_role(
    signed_in, organization, owner, admin_user
):
    invite(signed_in(owner), organization, "boss@example.com", "owner")
    invitation = Invitation.objects.get()

    page = signed_in(admin_user).get(members_url(organization)).content.decode()
    response = signed_in(admin_user).post(revoke_url(invitation), follow=True)

    assert "Only owners can withdraw an invitation to the owner role." in page
    assert revoke_url(invitation) not in page
    assert shown_messages(response) == [
        "The invitation to boss@example.com was not withdrawn. Only owners can withdraw an "
        "invitation to the owner role."
    ]
    assert Invitation.objects.get().is_open


def test_members_outsiders_and_visitors_cannot_see_send_or_withdraw_invitations(
    client, signed_in, organization, owner, member, outsider
):
    invite(signed_in(owner), organization, "alice@example.com", "admin")
    invitation = Invitation.objects.get()
    mail.outbox.clear()
    requests = [
        ("get", members_url(organization), {}),
        ("post", members_url(organization), {"email": "eve@example.com", "role": "admin"}),
        ("post", revoke_url(invitation), {}),
    ]

    for method, url, data in requests:
        as_member = getattr(signed_in(member), method)(url, data)
        as_outsider = getattr(signed_in(outsider), method)(url, data)
        anonymous = getattr(client, method)(url, data)
        assert as_member.status_code == HTTPStatus.FORBIDDEN, url
        assert as_outsider.status_code == HTTPStatus.NOT_FOUND, url
        assert organization.name not in as_outsider.content.decode()
        assert anonymous.status_code == HTTPStatus.FOUND
        assert anonymous["Location"].startswith("/accounts/login/")
        assert "alice@example.com" not in as_member.content.decode()

    assert list(Invitation.objects.values_list("email", "revoked_at")) == [
        ("alice@example.com", None)
    ]
    assert mail.outbox == []


def test_an_invitation_of_another_organization_cannot_be_withdrawn(
    signed_in, organization, owner, outsider
):
    invite(signed_in(owner), organization, "alice@example.com")
    invitation = Invitation.objects.get()
    other_organization = Membership.objects.get(user=outsider).organization
    foreign_url = reverse("accounts:invitation_revoke", args=[other_organization.id, invitation.id])

    response = signed_in(outsider).post(foreign_url, follow=True)

    assert shown_messages(response) == ["This invitation no longer exists."]
    assert Invitation.objects.get().is_open


def test_the_invitation_forms_require_csrf(organization, owner, alice):
    inviter = Client(enforce_csrf_checks=True)
    inviter.force_login(owner)
    assert invite(inviter, organization, "alice@example.com").status_code == HTTPStatus.FORBIDDEN
    assert Invitation.objects.count() == 0

    _, token = invitation_create(
        actor=Actor(user=owner, via="web"),
        organization=organization,
        email="alice@example.com",
        role="admin",
    )
    invitee = Client(enforce_csrf_checks=True)
    invitee.force_login(alice)
    assert invitee.post(f"/invitations/{token}/").status_code == HTTPStatus.FORBIDDEN
    revoker = inviter.post(revoke_url(Invitation.objects.get()))
    assert revoker.status_code == HTTPStatus.FORBIDDEN
    assert memberships(organization) == [(owner.email, "owner")]
    assert Invitation.objects.get().is_open


# --- the services ---------------------------------------------------------------------------


def test_services_refuse_what_the_pages_do_not_offer(organization, owner, alice, outsider):
    invitation, token = invitation_create(
        actor=Actor(user=owner, via="web"),
        organization=organization,
        email="alice@example.com",
        role="member",
    )
    with pytest.raises(NotAllowed):
        invitation_create(
            actor=Actor(user=outsider, via="web"),
            organization=organization,
            email="x@example.com",
            role="member",
        )
    with pytest.raises(NotAllowed):
        invitation_revoke(actor=Actor(user=outsider, via="web"), invitation=invitation)
    with pytest.raises(InvitationRefused, match="Enter a valid email address."):
        invitation_create(
            actor=Actor(user=owner, via="web"),
            organization=organization,
            email="not an address",
            role="member",
        )
    # Nobody but the operator adds a person by email without their consent.
    for actor in (Actor(user=owner, via="web"), Actor(user=owner, via="api")):
        with pytest.raises(NotAllowed):
            membership_add_by_email(
                actor=actor, organization=organization, email="zed@example.com", role="admin"
            )
    assert not User.objects.filter(email="zed@example.com").exists()
    membership_add_by_email(
        actor=OPERATOR, organization=organization, email="zed@example.com", role="admin"
    )
    assert invitation_accept(actor=Actor(user=alice, via="web"), raw_token=token)[1] is True
    assert memberships(organization) == sorted(
        [(owner.email, "owner"), ("alice@example.com", "member"), ("zed@example.com", "admin")]
    )


def test_the_members_page_lists_open_invitations_only(signed_in, organization, owner, alice):
    client = signed_in(owner)
    invite(client, organization, "alice@example.com", "admin")
    invite(client, organization, "bob@example.com", "member")
    signed_in(alice).post(link_in(mail.outbox[0]))

    page = client.get(members_url(organization)).content.decode()

    invitations = page[page.index('id="invitations"') : page.index('id="invite-member"')]
    assert "bob@example.com" in invitations
    assert "alice@example.com" not in invitations
    assert f"{owner.email}</td>" in invitations


def test_no_log_line_carries_a_link(signed_in, client, organization, owner, outsider, caplog):
    invite(signed_in(owner), organization, "alice@example.com")
    link = link_in(mail.outbox[0])
    caplog.set_level("INFO")

    signed_in(outsider).post(link)  # 403
    client.get(link.rstrip("/") + "x/")  # 404

    assert [record.levelname for record in caplog.records] == ["WARNING", "WARNING"]
    assert token_of(link) not in caplog.text
    assert "Invitation page answered 403" in caplog.text
