"""The organization's callbacks page (issue 19): owners and admins register endpoints, see the
signing secret once, the delivery log, and send again; everyone else is refused and nothing
changes. Registering, removing and rotating are in the audit chain, without the secret."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.callbacks.endpoints import callback_endpoint_create
from privacy_requests.models import AuditAction, AuditEntry, CallbackDelivery, CallbackEndpoint
from tests.admin_support import sign_in_with_mfa, staff_user
from tests.callback_receiver import Receiver
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

FORM = {
    "url": "https://privacy.example.com/hooks/",
    "events": ["submitted", "succeeded", "failed"],
    "project": "",
}


def page_url(organization) -> str:
    return reverse("privacy_web:callbacks", args=[organization.id])


def endpoint_url(endpoint, name="privacy_web:callback_endpoint") -> str:
    return reverse(name, args=[endpoint.organization_id, endpoint.id])


@pytest.fixture
def endpoint(organization, owner):
    return callback_endpoint_create(
        actor=Actor(user=owner, via="web"),
        organization=organization,
        url="https://privacy.example.com/hooks/",
        events=["submitted"],
    )


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_register_an_endpoint_and_see_its_secret_once(
    client, make_member, organization, role
):
    client.force_login(make_member(role))

    response = client.post(page_url(organization), FORM)

    endpoint = CallbackEndpoint.objects.get()
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == endpoint_url(endpoint, "privacy_web:callback_secret")
    shown = client.get(response["Location"])
    assert f'id="callback-secret">{endpoint.secret}<' in shown.content.decode()
    assert shown["Cache-Control"] == "no-store"
    again = client.get(response["Location"]).content.decode()
    assert endpoint.secret not in again
    assert 'id="already-shown"' in again
    assert (endpoint.url, endpoint.events, endpoint.include_distinct_ids) == (
        "https://privacy.example.com/hooks/",
        ["submitted", "succeeded", "failed"],
        False,
    )
    entry = AuditEntry.objects.get(action=AuditAction.CALLBACK_ENDPOINT_CREATED)
    assert entry.detail["url"] == "https://privacy.example.com/hooks/"
    assert endpoint.secret not in str(entry.detail)
    listed = client.get(page_url(organization)).content.decode()
    assert "<code>https://privacy.example.com/hooks/</code>" in listed
    assert endpoint.secret not in listed


def test_an_unsafe_url_is_refused_with_the_reason(client, owner, organization, settings):
    settings.CALLBACK_ALLOW_PRIVATE_ADDRESSES = False
    client.force_login(owner)

    response = client.post(page_url(organization), {**FORM, "url": "https://169.254.169.254/"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Refused: 169.254.169.254 is a link-local address" in response.content.decode()
    assert CallbackEndpoint.objects.count() == 0


def test_members_are_refused_and_nothing_is_registered(client, member, organization, endpoint):
    client.force_login(member)

    assert client.get(page_url(organization)).status_code == HTTPStatus.FORBIDDEN
    assert client.post(page_url(organization), FORM).status_code == HTTPStatus.FORBIDDEN
    assert client.get(endpoint_url(endpoint)).status_code == HTTPStatus.FORBIDDEN
    rotate = client.post(endpoint_url(endpoint, "privacy_web:callback_rotate"))
    assert rotate.status_code == HTTPStatus.FORBIDDEN
    delete = client.post(endpoint_url(endpoint, "privacy_web:callback_delete"))
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert list(CallbackEndpoint.objects.values_list("id", "secret")) == [
        (endpoint.id, endpoint.secret)
    ]


def test_another_organization_and_staff_outside_it_see_nothing(
    client, outsider, organization, endpoint
):
    for user in (outsider, staff_user()):
        client.force_login(user)
        assert client.get(page_url(organization)).status_code == HTTPStatus.NOT_FOUND
        assert client.post(page_url(organization), FORM).status_code == HTTPStatus.NOT_FOUND
        delete = client.post(endpoint_url(endpoint, "privacy_web:callback_delete"))
        assert delete.status_code == HTTPStatus.NOT_FOUND
    assert CallbackEndpoint.objects.count() == 1


def test_an_endpoint_of_another_organization_is_not_found_under_ones_own(
    client, owner, organization
):
    other = OrganizationFactory()
    foreign_owner = MembershipFactory(organization=other, role=Role.OWNER).user
    foreign = callback_endpoint_create(
        actor=Actor(user=foreign_owner, via="web"),
        organization=other,
        url="https://other.example.com/",
        events=["failed"],
    )
    client.force_login(owner)
    own_org_path = reverse("privacy_web:callback_delete", args=[organization.id, foreign.id])

    assert client.post(own_org_path).status_code == HTTPStatus.NOT_FOUND
    assert CallbackEndpoint.objects.filter(id=foreign.id).exists()


def test_rotating_shows_a_new_secret_once_and_is_audited(client, owner, endpoint):
    client.force_login(owner)
    old = endpoint.secret

    response = client.post(endpoint_url(endpoint, "privacy_web:callback_rotate"))

    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert endpoint.secret in client.get(response["Location"]).content.decode()
    entry = AuditEntry.objects.get(action=AuditAction.CALLBACK_SECRET_ROTATED)
    assert entry.detail == {"endpoint_id": endpoint.id, "url": endpoint.url}
    assert entry.actor == f"web:{owner.email}"


def test_removing_an_endpoint_is_audited(client, admin_user, endpoint):
    client.force_login(admin_user)

    response = client.post(endpoint_url(endpoint, "privacy_web:callback_delete"))

    assert response.status_code == HTTPStatus.FOUND
    assert CallbackEndpoint.objects.count() == 0
    entry = AuditEntry.objects.get(action=AuditAction.CALLBACK_ENDPOINT_DELETED)
    assert (entry.actor, entry.detail["url"]) == (f"web:{admin_user.email}", endpoint.url)


@pytest.fixture
def receiver():
    receiver = Receiver([500]).start()
    yield receiver
    receiver.stop()


def test_the_delivery_log_shows_each_attempt_and_sends_again(
    client, owner, organization, submit, receiver, django_capture_on_commit_callbacks
):
    endpoint = callback_endpoint_create(
        actor=Actor(user=owner, via="web"),
        organization=organization,
        url=receiver.url + "/",
        events=["submitted"],
    )
    request = submit(run=True)
    client.force_login(owner)

    log = client.get(endpoint_url(endpoint)).content.decode()
    assert request.tracking_id in log
    assert 'class="delivery-status">Waiting to be sent' in log
    assert 'class="delivery-code">500<' in log
    assert 'class="delivery-attempts">1<' in log

    delivery = CallbackDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("privacy_web:callback_resend", args=[organization.id, endpoint.id, delivery.id])
        )

    log = client.get(endpoint_url(endpoint)).content.decode()
    assert "The submitted callback will be sent again now." in log
    assert 'class="delivery-status">Delivered' in log
    assert 'class="delivery-code">200<' in log
    assert 'class="delivery-attempts">2<' in log


def test_staff_see_the_delivery_log_in_the_back_office_and_send_again(
    client, owner, organization, submit, receiver, django_capture_on_commit_callbacks
):
    endpoint = callback_endpoint_create(
        actor=Actor(user=owner, via="web"),
        organization=organization,
        url=receiver.url + "/",
        events=["submitted"],
    )
    submit(run=True)
    delivery = CallbackDelivery.objects.get()
    sign_in_with_mfa(client, staff_user())

    endpoint_page = client.get(f"/admin/privacy_requests/callbackendpoint/{endpoint.id}/change/")
    assert endpoint_page.status_code == HTTPStatus.OK
    assert endpoint.secret not in endpoint_page.content.decode()
    changelist = "/admin/privacy_requests/callbackdelivery/"
    assert delivery.delivery_id in client.get(changelist).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            changelist,
            {"action": "send_again", "index": 0, "_selected_action": [delivery.pk]},
        )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("delivered", 200, 2)
