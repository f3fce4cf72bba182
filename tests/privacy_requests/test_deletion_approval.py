"""Four-eyes approval of large deletions (issue 19, section 2): the services."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.deletions.receipts import receipt_read
from privacy_requests.errors import InvalidRequest, InvalidTransition, NotAllowed
from privacy_requests.models import ApprovalState, AuditAction, AuditEntry, PrivacyRequest, Status
from privacy_requests.services import (
    privacy_request_cancel,
    privacy_request_expedite,
    privacy_sweep,
)
from privacy_requests.services.approval import (
    EXPIRED_REASON,
    privacy_request_approve,
    privacy_request_reject,
)
from privacy_requests.services.subject_decisions import privacy_request_subjects_decide
from projects.models import Event
from tests.admin_support import sign_in_with_mfa, staff_user
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def large(project, add_event, submit, owner_actor):
    """A deletion of three subjects with data in an organization that asks for a second
    approval above two subjects."""
    organization = project.organization
    organization.approval_subjects_over = 2
    organization.save()
    for distinct_id in ("alice", "bob", "carol"):
        add_event(distinct_id)
        add_event(distinct_id)

    def make():
        return submit(kind="deletion", distinct_ids=["alice", "bob", "carol"], run=True)

    return make


@pytest.fixture
def second_admin(project):
    user = MembershipFactory(organization=project.organization, role=Role.ADMIN).user
    return Actor(user=user, via="web")


def actions(request):
    return list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", flat=True)
    )


def test_large_deletion_waits_in_staging_and_deletes_nothing(large, owner_actor):
    request = large()

    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.STAGING, ApprovalState.AWAITING)
    assert request.approval_expires_at - request.received_at == pytest.approx(
        timedelta(days=7), abs=timedelta(seconds=5)
    )
    assert Event.objects.count() == 6
    assert actions(request) == [AuditAction.SUBMITTED, AuditAction.APPROVAL_REQUESTED]
    entry = AuditEntry.objects.get(request=request, action=AuditAction.APPROVAL_REQUESTED)
    assert (entry.detail["subjects"], entry.detail["events"]) == (3, 6)


def test_the_other_owners_and_admins_are_emailed_not_the_requester(
    large, owner_actor, second_admin, project
):
    member = MembershipFactory(organization=project.organization, role=Role.MEMBER).user
    mail.outbox.clear()

    request = large()

    recipients = sorted(address for message in mail.outbox for address in message.to)
    assert recipients == [second_admin.user.email]
    assert owner_actor.user.email not in recipients and member.email not in recipients
    assert request.tracking_id in mail.outbox[0].subject
    assert "alice" not in mail.outbox[0].body


def test_sweep_does_not_start_a_waiting_deletion(large, django_capture_on_commit_callbacks):
    request = large()

    with django_capture_on_commit_callbacks(execute=True):
        privacy_sweep(now=timezone.now() + timedelta(days=1))

    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.STAGING, ApprovalState.AWAITING)
    assert Event.objects.count() == 6


@pytest.mark.parametrize(
    ("subjects_over", "events_over", "waits"),
    [(None, None, False), (3, None, False), (2, None, True), (None, 6, False), (None, 5, True)],
)
def test_thresholds_count_subjects_and_events(
    project, add_event, submit, subjects_over, events_over, waits
):
    project.organization.approval_subjects_over = subjects_over
    project.organization.approval_events_over = events_over
    project.organization.save()
    for distinct_id in ("alice", "bob", "carol"):
        add_event(distinct_id)
        add_event(distinct_id)

    request = submit(kind="deletion", distinct_ids=["alice", "bob", "carol"], run=True)

    request.refresh_from_db()
    assert request.status == (Status.STAGING if waits else Status.SUCCESS)
    assert Event.objects.count() == (6 if waits else 0)


def test_exports_never_wait(project, add_event, submit):
    project.organization.approval_subjects_over = 0
    project.organization.save()
    add_event("alice")

    request = submit(kind="export", distinct_ids=["alice"], run=True)

    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.SUCCESS, "")


def test_another_admin_approves_and_the_deletion_runs(
    large, second_admin, django_capture_on_commit_callbacks
):
    request = large()

    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_approve(request=request, actor=second_admin, reason="Checked the CSV")

    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.SUCCESS, ApprovalState.APPROVED)
    assert request.approval_decided_by == f"web:{second_admin.user.email}"
    assert request.approval_reason == "Checked the CSV"
    assert Event.objects.count() == 0
    assert request.counts["events"] == 6
    assert actions(request)[:3] == [
        AuditAction.SUBMITTED,
        AuditAction.APPROVAL_REQUESTED,
        AuditAction.APPROVED,
    ]
    approved = AuditEntry.objects.get(request=request, action=AuditAction.APPROVED)
    assert approved.detail == {"reason": "Checked the CSV"}


def _refused(request):
    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.STAGING, ApprovalState.AWAITING)
    assert AuditAction.APPROVED not in actions(request)
    assert Event.objects.count() == 6


@pytest.mark.parametrize("via", ["web", "api"])
def test_the_requester_cannot_approve_their_own(large, owner_actor, via):
    request = large()

    with pytest.raises(NotAllowed, match="another owner or admin"):
        privacy_request_approve(
            request=request, actor=Actor(user=owner_actor.user, via=via), reason="fine"
        )

    _refused(request)


def test_a_member_cannot_approve(large, project):
    request = large()
    member = MembershipFactory(organization=project.organization, role=Role.MEMBER).user

    with pytest.raises(NotAllowed):
        privacy_request_approve(request=request, actor=Actor(user=member, via="web"), reason="x")

    _refused(request)


def test_another_organizations_owner_cannot_approve(large, outsider):
    request = large()

    with pytest.raises(NotAllowed):
        privacy_request_approve(request=request, actor=Actor(user=outsider, via="web"), reason="x")

    _refused(request)


@pytest.mark.parametrize("via", ["staff", "web"])
def test_staff_can_see_but_not_approve(large, via):
    request = large()
    staff = UserFactory(is_staff=True, is_superuser=True)

    with pytest.raises(NotAllowed):
        privacy_request_approve(request=request, actor=Actor(user=staff, via=via), reason="x")

    _refused(request)


def test_a_service_account_cannot_approve(large, make_service_account):
    request = large()
    account, _ = make_service_account("admin")

    with pytest.raises(NotAllowed):
        privacy_request_approve(
            request=request,
            actor=Actor(user=None, via="api", service_account=account),
            reason="x",
        )

    _refused(request)


def test_approving_takes_a_reason(large, second_admin):
    request = large()

    with pytest.raises(InvalidRequest):
        privacy_request_approve(request=request, actor=second_admin, reason="   ")

    _refused(request)


def test_reject_revokes_with_the_reason(large, second_admin):
    request = large()

    privacy_request_reject(request=request, actor=second_admin, reason="Wrong CSV")

    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.REVOKED, ApprovalState.REJECTED)
    assert request.approval_reason == "Wrong CSV"
    assert Event.objects.count() == 6
    rejected = AuditEntry.objects.get(request=request, action=AuditAction.APPROVAL_REJECTED)
    assert rejected.detail == {"reason": "Wrong CSV"}


def test_the_second_of_two_approvers_loses(large, second_admin, project):
    request = large()
    third = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    privacy_request_reject(request=request, actor=second_admin, reason="Wrong CSV")

    with pytest.raises(InvalidTransition):
        privacy_request_approve(request=request, actor=Actor(user=third, via="web"), reason="ok")

    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.REVOKED, ApprovalState.REJECTED)
    assert actions(request).count(AuditAction.APPROVED) == 0


def test_unapproved_for_seven_days_it_expires(
    large, second_admin, django_capture_on_commit_callbacks
):
    request = large()

    with django_capture_on_commit_callbacks(execute=True):
        report = privacy_sweep(now=timezone.now() + timedelta(days=7, minutes=1))

    request.refresh_from_db()
    assert report.expired_approvals == 1
    assert (request.status, request.approval_state) == (Status.REVOKED, ApprovalState.EXPIRED)
    assert request.approval_reason == EXPIRED_REASON
    assert Event.objects.count() == 6
    expired = AuditEntry.objects.get(request=request, action=AuditAction.APPROVAL_EXPIRED)
    assert (expired.actor, expired.detail) == ("system", {"reason": EXPIRED_REASON})
    with pytest.raises(InvalidTransition):
        privacy_request_approve(request=request, actor=second_admin, reason="late")


def test_an_approval_after_the_expiry_time_loses_even_before_the_sweep(large, second_admin):
    request = large()
    PrivacyRequest.objects.filter(id=request.id).update(
        approval_expires_at=timezone.now() - timedelta(seconds=1)
    )

    with pytest.raises(InvalidTransition):
        privacy_request_approve(request=request, actor=second_admin, reason="late")

    request.refresh_from_db()
    assert request.approval_state == ApprovalState.AWAITING


def test_the_requester_can_still_cancel_while_it_waits(large, owner_actor):
    request = large()

    privacy_request_cancel(request=request, actor=owner_actor)

    request.refresh_from_db()
    assert request.status == Status.REVOKED
    assert privacy_sweep(now=timezone.now() + timedelta(days=8)).expired_approvals == 0


def test_the_receipt_names_the_approval_and_its_audit_entries(
    large, second_admin, django_capture_on_commit_callbacks
):
    request = large()
    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_approve(request=request, actor=second_admin, reason="Checked the CSV")
    request.refresh_from_db()

    approval = receipt_read(request=request)["approval"]

    entries = AuditEntry.objects.filter(
        request=request, action__in=[AuditAction.APPROVAL_REQUESTED, AuditAction.APPROVED]
    ).order_by("seq")
    assert approval["state"] == "approved"
    assert approval["approved_by"] == f"web:{second_admin.user.email}"
    assert approval["reason"] == "Checked the CSV"
    assert [(row["seq"], row["action"], row["hash"]) for row in approval["audit"]] == [
        (entry.seq, entry.action, entry.hash) for entry in entries
    ]
    assert len(approval["audit"]) == 2


def test_a_receipt_without_approval_says_none(project, add_event, submit):
    add_event("alice")
    request = submit(kind="deletion", distinct_ids=["alice"], run=True)
    request.refresh_from_db()

    assert receipt_read(request=request)["approval"] is None


def test_staff_see_the_waiting_deletion_in_the_admin_read_only(client, large):
    request = large()
    sign_in_with_mfa(client, staff_user())
    url = reverse("admin:privacy_requests_privacyrequest_change", args=[request.id])

    page = client.get(url).content.decode()
    client.post(url, {"approval_state": "approved", "approval_reason": "staff says so"})

    assert "Approval" in page and "Awaiting approval" in page
    assert 'name="approval_state"' not in page
    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.STAGING, ApprovalState.AWAITING)


def test_staff_expediting_a_waiting_deletion_does_not_start_it(
    large, settings, django_capture_on_commit_callbacks
):
    settings.PRIVACY_DELETION_DELAY = 3600
    request = large()
    staff = Actor(user=UserFactory(is_staff=True), via="staff")

    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_expedite(request=request, actor=staff)

    _refused(request)


def test_an_approved_deletions_subject_set_no_longer_changes(large, second_admin, owner_actor):
    large_request = large()
    privacy_request_approve(request=large_request, actor=second_admin, reason="ok")

    with pytest.raises(InvalidTransition, match="approved as it is"):
        privacy_request_subjects_decide(
            privacy_request=large_request, actor=owner_actor, left_out=["bob"], included=[]
        )

    assert large_request.decisions.count() == 0
