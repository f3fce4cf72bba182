"""Four-eyes approval of large deletions (issue 19, section 2): the page, the API's status."""

import json
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.models import (
    ApprovalState,
    AuditAction,
    AuditEntry,
    PrivacyRequest,
    RequestDraft,
    Status,
)
from projects.models import Event
from tests.factories import MembershipFactory, UserFactory
from tests.privacy_requests.test_web_preview import attacked, form  # noqa: F401

pytestmark = pytest.mark.django_db

DELETIONS = "/api/app/data-deletions/v3.0/"


@pytest.fixture
def requester(project):
    return MembershipFactory(organization=project.organization, role=Role.OWNER).user


@pytest.fixture
def approver(project):
    return MembershipFactory(organization=project.organization, role=Role.ADMIN).user


@pytest.fixture
def waiting(project, add_event, requester, client, django_capture_on_commit_callbacks):
    """A deletion of three subjects, submitted through the API by `requester`, over the
    organization's limit of two."""
    project.organization.approval_subjects_over = 2
    project.organization.save()
    for distinct_id in ("alice", "bob", "carol"):
        add_event(distinct_id)
    token = gdpr_token_reset(user=requester)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{DELETIONS}?token={project.token}",
            data=json.dumps({"distinct_ids": ["alice", "bob", "carol"]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == HTTPStatus.CREATED
    request = PrivacyRequest.objects.get(tracking_id=response.json()["results"]["task_id"])
    request.api_token = token
    return request


def status_of(client, project, request):
    return client.get(
        f"{DELETIONS}{request.tracking_id}?token={project.token}",
        HTTP_AUTHORIZATION=f"Bearer {request.api_token}",
    ).json()["results"]


def approval_url(request):
    return reverse("privacy_web:approval", args=[request.organization_id, request.tracking_id])


def detail_url(request):
    return reverse("privacy_web:detail", args=[request.organization_id, request.tracking_id])


def still_waiting(request):
    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.STAGING, ApprovalState.AWAITING)
    assert not AuditEntry.objects.filter(
        request=request, action__in=[AuditAction.APPROVED, AuditAction.APPROVAL_REJECTED]
    ).exists()
    assert Event.objects.count() == 3


def test_api_status_stays_staging_with_an_approval_object(client, project, waiting, requester):
    results = status_of(client, project, waiting)

    assert results["status"] == "STAGING"
    assert results["approval"] == {
        "state": "awaiting",
        "requested_by": requester.email,
        "needed_from": "another owner or admin",
        "expires_at": waiting.approval_expires_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "decided_by": None,
        "decided_at": None,
        "reason": None,
    }


def test_a_deletion_without_approval_has_no_approval_object(client, project, requester):
    token = gdpr_token_reset(user=requester)
    response = client.post(
        f"{DELETIONS}?token={project.token}",
        data=json.dumps({"distinct_ids": ["alice"]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    request = PrivacyRequest.objects.get(tracking_id=response.json()["results"]["task_id"])
    request.api_token = token

    assert "approval" not in status_of(client, project, request)


def test_the_second_admin_sees_the_preview_and_approves_with_a_reason(
    client, project, waiting, approver, django_capture_on_commit_callbacks
):
    client.force_login(approver)
    page = client.get(detail_url(waiting)).content.decode()
    assert "Awaiting approval" in page
    assert 'data-field="approval-subjects">3<' in page
    assert 'data-field="approval-events">3<' in page
    assert 'name="decision" value="approve"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            approval_url(waiting), {"decision": "approve", "reason": "Checked with legal"}
        )

    assert response.status_code == HTTPStatus.FOUND
    waiting.refresh_from_db()
    assert (waiting.status, waiting.approval_state) == (Status.SUCCESS, ApprovalState.APPROVED)
    assert Event.objects.count() == 0
    results = status_of(client, project, waiting)
    assert results["status"] == "SUCCESS"
    assert results["approval"]["decided_by"] == approver.email
    assert results["approval"]["reason"] == "Checked with legal"


def test_the_list_shows_the_waiting_deletion(client, waiting, approver):
    client.force_login(approver)

    page = client.get(reverse("privacy_web:list", args=[waiting.organization_id])).content
    assert b"awaiting approval" in page


def test_the_requester_sees_no_form_and_a_forged_post_is_refused(client, waiting, requester):
    client.force_login(requester)
    page = client.get(detail_url(waiting)).content.decode()
    assert "another owner or admin must approve it" in page
    assert 'value="approve"' not in page

    response = client.post(approval_url(waiting), {"decision": "approve", "reason": "me"})

    assert response.status_code == HTTPStatus.FOUND
    still_waiting(waiting)


def test_the_requester_cannot_approve_from_a_second_session(waiting, requester):
    second = Client()
    second.force_login(requester)

    second.post(approval_url(waiting), {"decision": "approve", "reason": "me again"})

    still_waiting(waiting)


def test_a_member_is_refused(client, project, waiting):
    client.force_login(MembershipFactory(organization=project.organization, role=Role.MEMBER).user)

    response = client.post(approval_url(waiting), {"decision": "approve", "reason": "x"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    still_waiting(waiting)


def test_another_organizations_owner_is_refused(client, waiting, outsider):
    client.force_login(outsider)

    response = client.post(approval_url(waiting), {"decision": "approve", "reason": "x"})

    assert response.status_code == HTTPStatus.NOT_FOUND
    still_waiting(waiting)


def test_staff_outside_the_organization_is_refused(client, waiting):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(approval_url(waiting), {"decision": "approve", "reason": "x"})

    assert response.status_code == HTTPStatus.NOT_FOUND
    still_waiting(waiting)


def test_a_post_without_the_csrf_token_is_refused(waiting, approver):
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(approver)

    response = forged.post(approval_url(waiting), {"decision": "approve", "reason": "x"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    still_waiting(waiting)


def test_a_decision_without_a_reason_is_refused(client, waiting, approver):
    client.force_login(approver)

    client.post(approval_url(waiting), {"decision": "approve", "reason": "  "})

    still_waiting(waiting)


def test_the_api_cannot_approve(client, project, waiting):
    """There is no approval through the API: a GDPR token is one person's, and an approval
    needs a second person in a signed-in session."""
    response = client.post(
        f"{DELETIONS}{waiting.tracking_id}/approval/?token={project.token}",
        data=json.dumps({"decision": "approve", "reason": "x"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {waiting.api_token}",
    )

    assert response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED)
    still_waiting(waiting)


def test_a_reject_revokes_it(client, waiting, approver):
    client.force_login(approver)

    client.post(approval_url(waiting), {"decision": "reject", "reason": "Wrong list"})

    waiting.refresh_from_db()
    assert (waiting.status, waiting.approval_state) == (Status.REVOKED, ApprovalState.REJECTED)
    assert Event.objects.count() == 3
    page = client.get(detail_url(waiting)).content.decode()
    assert "Rejected by" in page and "Wrong list" in page


@pytest.mark.parametrize(("leave_out", "waits"), [([], True), (["victim-123"], False)])
def test_the_preview_page_counts_the_reach_with_the_persons_choices(
    client,
    owner,
    organization,
    attacked,  # noqa: F811
    django_capture_on_commit_callbacks,
    leave_out,
    waits,
):
    """attacker-1 (1 event) is linked to victim-123 (3 events); over 2 events a deletion waits,
    so leaving the victim out on the preview keeps it under the limit."""
    organization.approval_events_over = 2
    organization.save()
    client.force_login(owner)
    client.post(
        reverse("privacy_web:deletion_new", args=[organization.id]), form(attacked, ["attacker-1"])
    )
    draft = RequestDraft.objects.get()
    preview = reverse("privacy_web:deletion_preview", args=[organization.id, draft.id])
    client.post(preview, {"action": "update", "leave_out": leave_out})

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            preview,
            {"action": "submit", "confirm": "on", "leave_out": leave_out},
            follow=True,
        )

    request = PrivacyRequest.objects.get()
    assert request.status == (Status.STAGING if waits else Status.SUCCESS)
    assert request.approval_state == (ApprovalState.AWAITING if waits else ApprovalState.NONE)
    waiting_message = "it waits for another owner or admin to approve it"
    assert (waiting_message in response.content.decode()) is waits
    if waits:
        page = client.get(response.redirect_chain[-1][0])
        # The second person sees the same reach: both ids' 4 events.
        assert page.status_code == HTTPStatus.OK
        assert 'data-field="approval-events">4<' in page.content.decode()


def test_the_approvers_preview_keeps_the_requesters_left_out_ids(
    client,
    owner,
    admin_user,
    organization,
    attacked,  # noqa: F811
):
    organization.approval_events_over = 0
    organization.save()
    client.force_login(owner)
    client.post(
        reverse("privacy_web:deletion_new", args=[organization.id]), form(attacked, ["attacker-1"])
    )
    draft = RequestDraft.objects.get()
    preview = reverse("privacy_web:deletion_preview", args=[organization.id, draft.id])
    client.post(preview, {"action": "update", "leave_out": ["victim-123"]})
    client.post(preview, {"action": "submit", "confirm": "on", "leave_out": ["victim-123"]})
    request = PrivacyRequest.objects.get()
    client.force_login(admin_user)

    page = client.get(detail_url(request)).content.decode()

    assert request.approval_state == ApprovalState.AWAITING
    assert 'data-field="approval-events">1<' in page
