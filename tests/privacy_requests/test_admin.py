"""The back office's privacy request list and detail: columns, deadlines, filters, search."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.admin_selectors import privacy_request_queue_summary
from privacy_requests.deadlines import deadline_state
from privacy_requests.models import PrivacyRequest, RequestSubject, Status
from privacy_requests.services import privacy_sweep
from projects.pii import distinct_id_hmac
from tests.admin_support import sign_in_with_mfa, staff_user
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/privacy_requests/privacyrequest/"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def staff_client(client):
    sign_in_with_mfa(client, staff_user())
    return client


@pytest.fixture
def make(submit):
    """A request in the given state; tests set up states directly, the admin never does."""

    def create(*, status=Status.PENDING, due_at=None, **submit_kwargs):
        request = submit(**submit_kwargs)
        changes = {"status": status}
        if due_at is not None:
            changes["due_at"] = due_at
        PrivacyRequest.objects.filter(id=request.id).update(**changes)
        request.refresh_from_db()
        return request

    return create


def listed(response) -> list[str]:
    assert response.status_code == HTTPStatus.OK
    return [request.tracking_id for request in response.context["cl"].result_list]


def test_the_list_shows_each_requests_columns(staff_client, submit, add_event, project):
    add_event("alice")
    request = submit(distinct_ids=["alice", "bob", "carol"], kind="deletion", compliance="CCPA")
    PrivacyRequest.objects.filter(id=request.id).update(
        progress={"phase": "delete", "done": 1, "total": 3}
    )

    response = staff_client.get(CHANGELIST)

    row = response.content.decode().split(f'title="{request.tracking_id}"', 1)[1].split("</tr>")[0]
    assert row.startswith(f">{request.tracking_id[:12]}…</code></a></th>")
    assert '<span class="request-status request-status-pending">PENDING</span>' in row
    assert '<td class="field-kind">Deletion</td>' in row
    assert '<td class="field-compliance">CCPA</td>' in row
    assert f'<td class="field-organization nowrap">{project.organization.name}</td>' in row
    assert f'<td class="field-project nowrap">{project.name}</td>' in row
    assert '<td class="field-ids_count">3</td>' in row
    assert '<td class="field-progress_display">1/3 (delete)</td>' in row
    received = timezone.localtime(request.received_at).strftime("%Y-%m-%d %H:%M")
    assert f'<td class="field-received_display">{received}</td>' in row


@time_machine.travel(NOW, tick=False)
def test_deadlines_are_highlighted_overdue_or_due_soon(staff_client, make):
    overdue = make(due_at=NOW - timedelta(days=2, hours=1))
    soon = make(status=Status.FAILURE, due_at=NOW + timedelta(days=3))
    later = make(due_at=NOW + timedelta(days=20))
    done_late = make(status=Status.SUCCESS, due_at=NOW - timedelta(days=5))

    content = staff_client.get(CHANGELIST).content.decode()

    def due_cell(request):
        row = content.split(f'title="{request.tracking_id}"', 1)[1].split("</tr>")[0]
        return row.split('<td class="field-due_display">', 1)[1].split("</td>")[0]

    assert due_cell(overdue) == (
        '<span class="deadline-overdue">2026-03-08 11:00<br>overdue by 2\xa0days</span>'
    )
    assert due_cell(soon) == (
        '<span class="deadline-soon">2026-03-13 12:00<br>due in 3\xa0days</span>'
    )
    assert due_cell(later) == "2026-03-30 12:00"
    assert due_cell(done_late) == "2026-03-05 12:00"


@pytest.mark.parametrize(
    ("due_offset", "state"),
    [
        (timedelta(seconds=-1), "overdue"),
        (timedelta(microseconds=-1), "overdue"),
        (timedelta(0), "due_soon"),  # finishing at the deadline itself is on time
        (timedelta(seconds=1), "due_soon"),
        (timedelta(days=7), "due_soon"),
        (timedelta(days=7, seconds=1), ""),
    ],
)
def test_overdue_starts_the_moment_after_the_deadline(staff_client, make, due_offset, state):
    with time_machine.travel(NOW, tick=False):
        request = make(due_at=NOW + due_offset)

        overdue = listed(staff_client.get(CHANGELIST, {"deadline": "overdue"}))
        this_week = listed(staff_client.get(CHANGELIST, {"deadline": "week"}))
        summary = privacy_request_queue_summary()

    assert deadline_state(request, now=NOW) == state
    assert overdue == ([request.tracking_id] if state == "overdue" else [])
    assert this_week == ([request.tracking_id] if state == "due_soon" else [])
    assert summary.overdue == (1 if state == "overdue" else 0)
    assert summary.due_this_week == (1 if state == "due_soon" else 0)


@pytest.mark.parametrize("status", [Status.SUCCESS, Status.REVOKED])
def test_a_final_request_is_never_overdue(staff_client, make, status):
    with time_machine.travel(NOW, tick=False):
        request = make(status=status, due_at=NOW - timedelta(days=1))
        overdue = listed(staff_client.get(CHANGELIST, {"deadline": "overdue"}))

    assert deadline_state(request, now=NOW) == ""
    assert overdue == []


@time_machine.travel(NOW, tick=False)
def test_most_urgent_first_open_by_due_date_then_the_rest_newest_first(staff_client, make, submit):
    finished_old = make(status=Status.SUCCESS, due_at=NOW - timedelta(days=40))
    PrivacyRequest.objects.filter(id=finished_old.id).update(received_at=NOW - timedelta(days=60))
    finished_new = make(status=Status.REVOKED, due_at=NOW + timedelta(days=1))
    later = make(due_at=NOW + timedelta(days=20))
    failed_overdue = make(status=Status.FAILURE, due_at=NOW - timedelta(days=1))
    running = make(status=Status.STARTED, due_at=NOW + timedelta(days=2))

    assert listed(staff_client.get(CHANGELIST)) == [
        failed_overdue.tracking_id,
        running.tracking_id,
        later.tracking_id,
        finished_new.tracking_id,
        finished_old.tracking_id,
    ]


@time_machine.travel(NOW, tick=False)
def test_the_summary_counts_queued_running_failed_and_overdue(staff_client, make):
    make(status=Status.PENDING, due_at=NOW - timedelta(days=1))
    make(status=Status.STAGING, due_at=NOW + timedelta(days=2))
    make(status=Status.STARTED)
    make(status=Status.FAILURE, due_at=NOW - timedelta(hours=1))
    make(status=Status.FAILURE)
    make(status=Status.SUCCESS, due_at=NOW - timedelta(days=3))

    response = staff_client.get(CHANGELIST)

    summary = {label: count for label, count, _ in response.context["queue_summary"]}
    assert summary == {"Queued": 2, "Running": 1, "Failed": 2, "Overdue": 2, "Due this week": 1}
    content = response.content.decode()
    assert (
        '<a href="/admin/privacy_requests/privacyrequest/?deadline=overdue" '
        'class="back-office-summary-item back-office-summary-alert">'
        '<span class="back-office-summary-count">2</span> overdue</a>'
    ) in content
    # The same numbers on the admin index.
    index = staff_client.get(reverse("admin:index")).content.decode()
    assert (
        '<a href="/admin/privacy_requests/privacyrequest/?status__exact=FAILURE">Failed'
        "</a></th><td>2</td>"
    ) in index


def test_filters_by_status_kind_compliance_and_organization(
    staff_client, make, project, submit_elsewhere
):
    pending_export = make(kind="export", compliance="GDPR")
    failed_deletion = make(
        status=Status.FAILURE, kind="deletion", compliance="CCPA", distinct_ids=["bob"]
    )
    elsewhere = submit_elsewhere(distinct_ids=["alice"])
    other_project = elsewhere.project

    def ids(**params):
        return sorted(listed(staff_client.get(CHANGELIST, params)))

    assert ids(status__exact="FAILURE") == [failed_deletion.tracking_id]
    assert ids(status__in="PENDING,STAGING") == sorted(
        [pending_export.tracking_id, elsewhere.tracking_id]
    )
    assert ids(kind__exact="deletion") == [failed_deletion.tracking_id]
    assert ids(compliance__exact="CCPA") == [failed_deletion.tracking_id]
    assert ids(organization__id__exact=project.organization_id) == sorted(
        [pending_export.tracking_id, failed_deletion.tracking_id]
    )
    assert ids(organization__id__exact=other_project.organization_id) == [elsewhere.tracking_id]


@pytest.fixture
def submit_elsewhere():
    """Submits to another organization's project, as its owner."""
    from privacy_requests.services import privacy_request_submit

    def do(*, distinct_ids):
        project = ProjectFactory()
        owner = MembershipFactory(organization=project.organization, role=Role.OWNER).user
        return privacy_request_submit(
            project=project,
            actor=Actor(user=owner, via="web"),
            channel="web",
            kind="export",
            compliance="GDPR",
            distinct_ids=distinct_ids,
        )

    return do


def test_search_by_tracking_id_and_by_distinct_id(staff_client, submit, submit_elsewhere):
    alice = submit(distinct_ids=["alice", "bob"])
    upper = submit(distinct_ids=["Alice"])
    elsewhere = submit_elsewhere(distinct_ids=["alice"])
    linked = submit(distinct_ids=["carol"])
    RequestSubject.objects.create(
        request=linked, distinct_id="$device:alice", position=1, linked=True
    )

    def search(term):
        return sorted(listed(staff_client.get(CHANGELIST, {"q": term})))

    assert search(alice.tracking_id) == [alice.tracking_id]
    assert search("alice") == sorted([alice.tracking_id, elsewhere.tracking_id])
    assert search("Alice") == [upper.tracking_id]  # distinct_ids are case-sensitive
    assert search("  bob ") == [alice.tracking_id]
    assert search("$device:alice") == [linked.tracking_id]
    assert search("nobody") == []
    assert search("alic") == []


def test_search_finds_requests_whose_subjects_were_pseudonymized(
    staff_client, submit, submit_elsewhere, project
):
    old = submit(distinct_ids=["alice", "bob"], run=True)
    old_elsewhere = submit_elsewhere(distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id__in=[old.id, old_elsewhere.id]).update(
        status=Status.SUCCESS, finished_at=timezone.now() - timedelta(days=31)
    )
    recent = submit(distinct_ids=["alice"])
    assert privacy_sweep().pseudonymized_requests == 2
    assert "alice" not in RequestSubject.objects.filter(
        request__in=[old, old_elsewhere]
    ).values_list("distinct_id", flat=True)

    def search(term):
        return sorted(listed(staff_client.get(CHANGELIST, {"q": term})))

    assert search("alice") == sorted(
        [old.tracking_id, old_elsewhere.tracking_id, recent.tracking_id]
    )
    assert search("bob") == [old.tracking_id]
    # The HMAC itself, as an audit entry shows it, finds the request too.
    assert search(distinct_id_hmac(project_id=project.id, distinct_id="bob")) == [old.tracking_id]
    # One project's HMAC is never taken for another's.
    other_hmac = distinct_id_hmac(project_id=old_elsewhere.project_id, distinct_id="bob")
    assert search(other_hmac) == []


def test_the_detail_page_shows_subjects_counts_progress_errors_and_the_audit_trail(
    staff_client, submit, add_event
):
    add_event("alice")
    request = submit(distinct_ids=["alice", "ghost"], run=True)
    PrivacyRequest.objects.filter(id=request.id).update(error="OSError: disk full")

    response = staff_client.get(
        reverse("admin:privacy_requests_privacyrequest_change", args=[request.id])
    )

    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    assert "<td>1</td><td><code>alice</code></td><td>given</td>" in content
    assert "<td>2</td><td><code>ghost</code></td><td>given</td>" in content
    assert "&quot;events&quot;: 1" in content
    assert "1 id: ghost" in content
    assert "OSError: disk full" in content
    for seq, action in enumerate(["submitted", "staged", "started", "succeeded"], start=1):
        assert f"<tr><td>#{seq}</td>" in content
        assert f"<td>{action}</td>" in content
    # Read-only: no form field and no save button.
    assert 'name="_save"' not in content
    assert "<textarea" not in content
    assert 'name="status"' not in content


def test_staff_see_no_download_link_to_a_finished_export(staff_client, submit, add_event):
    add_event("alice")
    request = submit(distinct_ids=["alice"], run=True)
    request.refresh_from_db()
    assert request.status == Status.SUCCESS and request.result_file

    content = staff_client.get(
        reverse("admin:privacy_requests_privacyrequest_change", args=[request.id])
    ).content.decode()

    assert "Export package" in content
    assert "/downloads/" not in content
    assert request.result_file not in content


def test_requests_cannot_be_added_changed_or_deleted_in_the_admin(staff_client, submit):
    request = submit()
    change_url = reverse("admin:privacy_requests_privacyrequest_change", args=[request.id])

    assert (
        staff_client.get(reverse("admin:privacy_requests_privacyrequest_add")).status_code
        == HTTPStatus.FORBIDDEN
    )
    assert (
        staff_client.get(
            reverse("admin:privacy_requests_privacyrequest_delete", args=[request.id])
        ).status_code
        == HTTPStatus.FORBIDDEN
    )
    assert staff_client.post(change_url, {"status": "SUCCESS"}).status_code == HTTPStatus.FORBIDDEN
    actions = staff_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions] == [
        "",
        "retry_failed",
        "cancel_requests",
        "expedite_deletions",
        "extend_deadline",
    ]
    request.refresh_from_db()
    assert request.status == Status.PENDING
