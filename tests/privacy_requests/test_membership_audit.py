"""Every membership change lands in the organization's audit chain (issue 15, finding 1),
whichever interface made it: the members page (an accepted invitation), the back office or the
command line.

accounts cannot import the chain (privacy_requests keeps it), so the members service calls the
one recorder privacy_requests installs at start-up, inside the change's own transaction: the
change and its entry commit together or not at all, and with no recorder installed the service
refuses to change anything.
"""

import re
from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts import membership_changes
from accounts.actors import Actor
from accounts.errors import LastOwner, NotAllowed, ServiceAccountRevoked
from accounts.invitations import invitation_create, invitation_revoke
from accounts.models import Invitation, Membership, Role
from accounts.service_accounts import service_account_create, service_account_revoke
from accounts.services import membership_change_role, membership_remove, membership_set
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditEntry
from privacy_requests.services import memberships as membership_audit
from projects.services import service_account_create_with_grants
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def chain(organization) -> list[tuple[str, str, dict]]:
    return list(
        AuditEntry.objects.filter(organization=organization)
        .order_by("seq")
        .values_list("actor", "action", "detail")
    )


def detail(user, before, after) -> dict:
    return {"user_id": user.id, "email": user.email, "role_before": before, "role_after": after}


def test_the_members_page_audits_adding_changing_and_removing(client, organization, owner):
    carol_user = UserFactory(email="carol@example.com")
    EmailAddress.objects.create(user=carol_user, email=carol_user.email, verified=True)
    client.force_login(owner)

    invited = client.post(
        reverse("accounts:members", args=[organization.id]),
        {"email": "Carol@Example.com", "role": "member"},
    )
    link = re.search(r"http://testserver(/invitations/\S+/)", mail.outbox[0].body).group(1)
    sent = Invitation.objects.get()
    assert chain(organization) == [  # an invitation changes no membership, and is recorded
        (
            f"web:{owner.email}",
            "invitation_sent",
            {"invitation_id": sent.id, "email": "carol@example.com", "role": "member"},
        )
    ]
    carol_client = Client()
    carol_client.force_login(carol_user)
    accepted = carol_client.post(link)
    carol = Membership.objects.get(organization=organization, user__email="carol@example.com")
    promoted = client.post(
        reverse("accounts:member_role", args=[organization.id, carol.id]), {"role": "admin"}
    )
    removed = client.post(reverse("accounts:member_remove", args=[organization.id, carol.id]))

    statuses = [invited.status_code, accepted.status_code, promoted.status_code]
    assert statuses + [removed.status_code] == [HTTPStatus.FOUND] * 4
    invitation = Invitation.objects.get()
    assert chain(organization)[1:] == [
        (
            "web:carol@example.com",
            "membership_changed",
            {
                **detail(carol.user, None, "member"),
                "invitation_id": invitation.id,
                "invited_by": f"web:{owner.email}",
            },
        ),
        (f"web:{owner.email}", "membership_changed", detail(carol.user, "member", "admin")),
        (f"web:{owner.email}", "membership_changed", detail(carol.user, "admin", None)),
    ]
    assert audit_verify(organization_id=organization.id) is None


def test_the_addmember_command_is_audited_as_the_operator(organization):
    call_command(
        "addmember", "--org", organization.name, "--email", "dan@example.com", "--role", "admin"
    )

    dan = Membership.objects.get(organization=organization, user__email="dan@example.com").user
    assert chain(organization) == [("cli", "membership_changed", detail(dan, None, "admin"))]


def test_setting_the_same_role_again_writes_no_entry(organization, owner, member):
    membership = Membership.objects.get(user=member, organization=organization)

    membership_change_role(actor=Actor(user=owner, via="web"), membership=membership, role="member")

    assert chain(organization) == []


def test_a_refused_change_writes_no_entry(organization, owner, admin_user, member):
    with pytest.raises(NotAllowed):
        membership_set(
            actor=Actor(user=admin_user, via="web"),
            organization=organization,
            user=member,
            role=Role.OWNER,
        )
    with pytest.raises(LastOwner):
        membership_remove(
            actor=Actor(user=owner, via="web"),
            membership=Membership.objects.get(user=owner, organization=organization),
        )

    assert chain(organization) == []


def test_a_change_whose_entry_cannot_be_written_does_not_happen(
    organization, owner, member, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("the audit chain is unavailable")

    monkeypatch.setattr(membership_audit, "audit_append", broken)
    membership = Membership.objects.get(user=member, organization=organization)

    with pytest.raises(RuntimeError):
        membership_change_role(
            actor=Actor(user=owner, via="web"), membership=membership, role="admin"
        )
    with pytest.raises(RuntimeError):
        membership_remove(actor=Actor(user=owner, via="web"), membership=membership)

    assert Membership.objects.get(id=membership.id).role == "member"


def test_no_membership_changes_without_a_recorder(organization, owner, monkeypatch):
    monkeypatch.setattr(membership_changes, "_recorder", None)
    newcomer = UserFactory()

    with pytest.raises(ImproperlyConfigured):
        membership_set(
            actor=Actor(user=owner, via="web"),
            organization=organization,
            user=newcomer,
            role=Role.MEMBER,
        )

    assert not Membership.objects.filter(user=newcomer).exists()


def test_privacy_requests_installs_the_audit_chain_as_the_recorder():
    assert membership_changes._recorder is membership_audit.membership_change_audit


# -- Staff act on any organization's members from the back office, within the same rules. --


@pytest.fixture
def staff_actor():
    return Actor(user=UserFactory(is_staff=True), via="staff")


def test_staff_manage_any_organizations_members_audited(organization, owner, staff_actor):
    newcomer = UserFactory()

    membership, created = membership_set(
        actor=staff_actor, organization=organization, user=newcomer, role=Role.OWNER
    )
    membership_remove(
        actor=staff_actor, membership=Membership.objects.get(user=owner, organization=organization)
    )

    assert created is True
    assert list(
        Membership.objects.filter(organization=organization).values_list("user", "role")
    ) == [(newcomer.id, "owner")]
    actor = f"staff:{staff_actor.user.email}"
    assert chain(organization) == [
        (actor, "membership_changed", detail(newcomer, None, "owner")),
        (actor, "membership_changed", detail(owner, "owner", None)),
    ]


def test_staff_keep_the_last_owner(organization, owner, staff_actor):
    membership = Membership.objects.get(user=owner, organization=organization)

    with pytest.raises(LastOwner):
        membership_change_role(actor=staff_actor, membership=membership, role=Role.ADMIN)
    with pytest.raises(LastOwner):
        membership_remove(actor=staff_actor, membership=membership)

    assert Membership.objects.get(id=membership.id).role == Role.OWNER
    assert chain(organization) == []


@pytest.mark.parametrize(
    "user_kwargs", [{"is_staff": False}, {"is_staff": True, "is_active": False}]
)
def test_only_active_staff_act_as_staff(organization, member, user_kwargs):
    actor = Actor(user=UserFactory(**user_kwargs), via="staff")
    membership = Membership.objects.get(user=member, organization=organization)

    with pytest.raises(NotAllowed):
        membership_change_role(actor=actor, membership=membership, role=Role.ADMIN)
    with pytest.raises(NotAllowed):
        membership_set(actor=actor, organization=organization, user=actor.user, role="owner")

    assert Membership.objects.get(id=membership.id).role == Role.MEMBER
    assert not Membership.objects.filter(user=actor.user).exists()


def test_staff_never_change_their_own_membership(organization, staff_actor):
    own = MembershipFactory(organization=organization, user=staff_actor.user, role=Role.MEMBER)

    with pytest.raises(NotAllowed):
        membership_change_role(actor=staff_actor, membership=own, role=Role.OWNER)
    with pytest.raises(NotAllowed):
        membership_set(
            actor=staff_actor,
            organization=MembershipFactory().organization,
            user=staff_actor.user,
            role=Role.OWNER,
        )

    assert Membership.objects.get(id=own.id).role == Role.MEMBER
    assert Membership.objects.filter(user=staff_actor.user).count() == 1
    assert not AuditEntry.objects.exists()


def test_invitations_sent_replaced_and_withdrawn_are_audited(organization, owner):
    actor = Actor(user=owner, via="web")
    first, _ = invitation_create(
        actor=actor, organization=organization, email="dan@example.com", role="member"
    )
    second, _ = invitation_create(
        actor=actor, organization=organization, email="dan@example.com", role="admin"
    )
    invitation_revoke(actor=actor, invitation=second)

    assert chain(organization) == [
        (
            f"web:{owner.email}",
            "invitation_sent",
            {"invitation_id": first.id, "email": "dan@example.com", "role": "member"},
        ),
        (
            f"web:{owner.email}",
            "invitation_sent",
            {
                "invitation_id": second.id,
                "email": "dan@example.com",
                "role": "admin",
                "replaced": 1,
            },
        ),
        (
            f"web:{owner.email}",
            "invitation_withdrawn",
            {"invitation_id": second.id, "email": "dan@example.com", "role": "admin"},
        ),
    ]
    assert audit_verify(organization_id=organization.id) is None


def test_service_accounts_created_and_revoked_are_audited(organization, owner, project):
    actor = Actor(user=owner, via="web")
    account, secret = service_account_create_with_grants(
        actor=actor, organization=organization, name="Privacy bot", role="admin", projects=[project]
    )
    service_account_revoke(actor=actor, service_account=account)

    described = {
        "service_account_id": account.id,
        "username": account.username,
        "name": "Privacy bot",
        "role": "admin",
    }
    assert chain(organization) == [
        (
            f"web:{owner.email}",
            "service_account_created",
            {**described, "project_ids": [project.id]},
        ),
        (f"web:{owner.email}", "service_account_revoked", described),
    ]
    assert secret not in str(chain(organization))
    assert audit_verify(organization_id=organization.id) is None


def test_a_refused_revocation_or_withdrawal_writes_no_entry(organization, owner, member):
    owner_actor = Actor(user=owner, via="web")
    account, _ = service_account_create(
        actor=owner_actor, organization=organization, name="Bot", role="member"
    )
    invitation, _ = invitation_create(
        actor=owner_actor, organization=organization, email="eve@example.com", role="owner"
    )
    before = chain(organization)
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user

    with pytest.raises(NotAllowed):
        service_account_revoke(actor=Actor(user=admin, via="web"), service_account=account)
    with pytest.raises(NotAllowed):
        invitation_revoke(actor=Actor(user=admin, via="web"), invitation=invitation)
    service_account_revoke(actor=owner_actor, service_account=account)
    with pytest.raises(ServiceAccountRevoked):
        service_account_revoke(actor=owner_actor, service_account=account)

    assert chain(organization) == [*before, chain(organization)[-1]]
    assert chain(organization)[-1][1] == "service_account_revoked"
