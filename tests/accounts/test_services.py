from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actors import OPERATOR, Actor
from accounts.errors import GdprTokenExists, LastOwner, NotAllowed
from accounts.models import GdprToken, Membership, Role
from accounts.services import (
    gdpr_token_issue,
    gdpr_token_reset,
    gdpr_token_verify,
    membership_change_role,
    membership_remove,
    membership_set,
)
from accounts.tokens import token_hash
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_gdpr_token_issue_returns_a_token_that_verifies_and_stores_only_its_hash(user):
    raw = gdpr_token_issue(user=user)

    stored = GdprToken.objects.get(user=user)
    assert raw.startswith("gdpr_")
    assert len(raw) >= 5 + 43  # 32 random bytes, url-safe base64
    assert stored.token_hash == token_hash(raw)
    assert raw not in stored.token_hash
    assert gdpr_token_verify(raw_token=raw) == user


def test_gdpr_token_expires_one_year_after_issue(user):
    before = timezone.now()
    gdpr_token_issue(user=user)

    stored = GdprToken.objects.get(user=user)
    assert before + timedelta(days=365) <= stored.expires_at <= timezone.now() + timedelta(days=365)


def test_gdpr_token_issue_twice_is_refused(user):
    first = gdpr_token_issue(user=user)

    with pytest.raises(GdprTokenExists):
        gdpr_token_issue(user=user)

    assert gdpr_token_verify(raw_token=first) == user


def test_gdpr_token_reset_invalidates_the_old_token_at_once(user):
    old = gdpr_token_issue(user=user)

    new = gdpr_token_reset(user=user)

    assert new != old
    assert gdpr_token_verify(raw_token=old) is None
    assert gdpr_token_verify(raw_token=new) == user
    assert GdprToken.objects.filter(user=user).count() == 1


def test_gdpr_token_reset_creates_one_when_the_user_has_none(user):
    raw = gdpr_token_reset(user=user)

    assert gdpr_token_verify(raw_token=raw) == user


def test_expired_gdpr_token_is_rejected(user):
    raw = gdpr_token_issue(user=user)
    GdprToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert gdpr_token_verify(raw_token=raw) is None


def test_gdpr_token_of_inactive_user_is_rejected(user):
    raw = gdpr_token_issue(user=user)
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert gdpr_token_verify(raw_token=raw) is None


@pytest.mark.parametrize(
    "raw_token",
    ["", "gdpr_", "gdpr_not-a-real-token", "not-prefixed", "gdpr_" + "x" * 500, "gdpr_\x00"],
)
def test_unknown_or_malformed_gdpr_token_is_rejected(user, raw_token):
    gdpr_token_issue(user=user)

    assert gdpr_token_verify(raw_token=raw_token) is None


def test_gdpr_token_verify_records_last_use(user):
    raw = gdpr_token_issue(user=user)
    assert GdprToken.objects.get(user=user).last_used_at is None

    gdpr_token_verify(raw_token=raw)

    assert GdprToken.objects.get(user=user).last_used_at is not None


def test_owner_grants_owner_role(organization, owner, member):
    membership = Membership.objects.get(user=member, organization=organization)

    membership_change_role(
        actor=Actor(user=owner, via="web"), membership=membership, role=Role.OWNER
    )

    assert Membership.objects.get(id=membership.id).role == Role.OWNER


def test_admin_cannot_grant_owner_role(organization, admin_user, member):
    membership = Membership.objects.get(user=member, organization=organization)

    with pytest.raises(NotAllowed):
        membership_change_role(
            actor=Actor(user=admin_user, via="web"), membership=membership, role=Role.OWNER
        )

    assert Membership.objects.get(id=membership.id).role == Role.MEMBER


def test_admin_cannot_demote_or_remove_an_owner(organization, owner, admin_user):
    MembershipFactory(organization=organization, role=Role.OWNER)
    membership = Membership.objects.get(user=owner, organization=organization)

    with pytest.raises(NotAllowed):
        membership_change_role(
            actor=Actor(user=admin_user, via="web"), membership=membership, role=Role.MEMBER
        )
    with pytest.raises(NotAllowed):
        membership_remove(actor=Actor(user=admin_user, via="web"), membership=membership)

    assert Membership.objects.get(id=membership.id).role == Role.OWNER


def test_admin_manages_admins_and_members(organization, admin_user, member):
    newcomer = UserFactory()

    membership_set(
        actor=Actor(user=admin_user, via="web"),
        organization=organization,
        user=newcomer,
        role=Role.ADMIN,
    )
    membership = Membership.objects.get(user=member, organization=organization)
    membership_change_role(
        actor=Actor(user=admin_user, via="web"), membership=membership, role=Role.ADMIN
    )
    membership_remove(actor=Actor(user=admin_user, via="web"), membership=membership)

    assert Membership.objects.get(user=newcomer, organization=organization).role == Role.ADMIN
    assert not Membership.objects.filter(id=membership.id).exists()


def test_member_cannot_manage_members(organization, member, admin_user):
    target = Membership.objects.get(user=admin_user, organization=organization)

    with pytest.raises(NotAllowed):
        membership_set(
            actor=Actor(user=member, via="web"),
            organization=organization,
            user=UserFactory(),
            role=Role.MEMBER,
        )
    with pytest.raises(NotAllowed):
        membership_change_role(
            actor=Actor(user=member, via="web"), membership=target, role=Role.MEMBER
        )
    with pytest.raises(NotAllowed):
        membership_remove(actor=Actor(user=member, via="web"), membership=target)

    assert Membership.objects.filter(organization=organization).count() == 2
    assert Membership.objects.get(id=target.id).role == Role.ADMIN


def test_outsider_cannot_manage_members(organization, outsider, member):
    target = Membership.objects.get(user=member, organization=organization)

    with pytest.raises(NotAllowed):
        membership_remove(actor=Actor(user=outsider, via="web"), membership=target)

    assert Membership.objects.filter(id=target.id).exists()


def test_last_owner_cannot_be_demoted_or_removed(organization, owner):
    membership = Membership.objects.get(user=owner, organization=organization)

    with pytest.raises(LastOwner):
        membership_change_role(
            actor=Actor(user=owner, via="web"), membership=membership, role=Role.ADMIN
        )
    with pytest.raises(LastOwner):
        membership_remove(actor=Actor(user=owner, via="web"), membership=membership)
    with pytest.raises(LastOwner):
        membership_remove(actor=OPERATOR, membership=membership)

    assert Membership.objects.get(id=membership.id).role == Role.OWNER


def test_an_owner_can_step_down_once_another_owner_exists(organization, owner):
    MembershipFactory(organization=organization, role=Role.OWNER)
    membership = Membership.objects.get(user=owner, organization=organization)

    membership_change_role(
        actor=Actor(user=owner, via="web"), membership=membership, role=Role.MEMBER
    )

    assert Membership.objects.get(id=membership.id).role == Role.MEMBER
