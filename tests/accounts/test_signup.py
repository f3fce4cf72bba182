from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.models import Membership, Organization, Role, User
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_signup_creates_user_organization_and_owner_membership(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "New.Person@Example.com",
            "password1": DEFAULT_PASSWORD,
            "password2": DEFAULT_PASSWORD,
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.organization == Organization.objects.get()
    assert membership.organization.name == "new.person's organization"
    # Email confirmation is mandatory: a confirmation mail went out, the address is unverified.
    assert len(mail.outbox) == 1
    assert "confirm" in mail.outbox[0].body.lower()
    assert EmailAddress.objects.get(user=user).verified is False


def test_signup_with_taken_email_creates_nothing_and_does_not_reveal_the_account(client):
    UserFactory(email="taken@example.com")

    response = client.post(
        reverse("account_signup"),
        {
            "email": "taken@example.com",
            "password1": DEFAULT_PASSWORD,
            "password2": DEFAULT_PASSWORD,
        },
    )

    # Same answer as a fresh sign-up, so the form cannot be used to probe for accounts.
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("account_email_verification_sent")
    assert User.objects.count() == 1
    assert Organization.objects.count() == 0
    assert mail.outbox[0].to == ["taken@example.com"]


def test_signin_with_verified_email_reaches_projects_page(client):
    user = UserFactory(email="alice@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    response = client.post(
        reverse("account_login"), {"login": "alice@example.com", "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("home")
    page = client.get(reverse("projects:list"))
    assert page.status_code == HTTPStatus.OK
    assert "alice@example.com" in page.content.decode()


def test_signin_with_wrong_password_is_refused(client):
    user = UserFactory(email="alice@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    response = client.post(
        reverse("account_login"), {"login": "alice@example.com", "password": "wrong-password"}
    )

    assert response.status_code == HTTPStatus.OK
    assert "_auth_user_id" not in client.session


def test_confirming_the_email_signs_the_user_in(client):
    client.post(
        reverse("account_signup"),
        {"email": "bob@example.com", "password1": DEFAULT_PASSWORD, "password2": DEFAULT_PASSWORD},
    )
    body = mail.outbox[0].body
    confirm_url = next(word for word in body.split() if "/accounts/confirm-email/" in word)
    path = confirm_url[confirm_url.index("/accounts/") :]

    response = client.post(path)

    assert response.status_code == HTTPStatus.FOUND
    assert EmailAddress.objects.get(email="bob@example.com").verified is True
    assert client.get(reverse("projects:list")).status_code == HTTPStatus.OK


def test_password_reset_by_email_sets_a_new_password(client):
    user = UserFactory(email="carol@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    client.post(reverse("account_reset_password"), {"email": "carol@example.com"})
    body = mail.outbox[0].body
    reset_url = next(word for word in body.split() if "/accounts/password/reset/key/" in word)
    path = reset_url[reset_url.index("/accounts/") :]
    form_page = client.get(path, follow=True)
    set_password_path = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path
    response = client.post(
        set_password_path,
        {"password1": "a-brand-new-password-7", "password2": "a-brand-new-password-7"},
    )

    assert response.status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.check_password("a-brand-new-password-7")
    assert not user.check_password(DEFAULT_PASSWORD)


def test_password_reset_for_unknown_email_sends_no_reset_link(client):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})

    assert response.status_code == HTTPStatus.FOUND
    assert all("/accounts/password/reset/key/" not in m.body for m in mail.outbox)
