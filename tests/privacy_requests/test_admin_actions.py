"""The back office's actions, posted as the changelist's action form posts them: each calls a
service as the staff user, reports what went through and why the rest was refused."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from privacy_requests.engine import registry
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from tests.admin_support import sign_in_with_mfa, staff_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/privacy_requests/privacyrequest/"
SWEEP = "/admin/privacy_requests/privacyrequest/sweep/"


@pytest.fixture
def staff():
    return staff_user()


@pytest.fixture
def staff_client(client, staff):
    sign_in_with_mfa(client, staff)
    return client


@pytest.fixture
def make(submit):
    def create(*, status=Status.PENDING, **submit_kwargs):
        request = submit(**submit_kwargs)
        changes = {"status": status}
        if status == Status.FAILURE:
            changes["error"] = "ValueError: the processor broke"
        PrivacyRequest.objects.filter(id=request.id).update(**changes)
        request.refresh_from_db()
        return request

    return create


def post_action(client, action, requests, **extra):
    """What the changelist's form posts when the operator picks an action and presses Go."""
    return client.post(
        CHANGELIST,
        {
            "action": action,
            "index": 0,
            "_selected_action": [r.pk for r in requests],
            **extra,
        },
    )


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def audit_actions(request) -> list[tuple[str, str]]:
    return list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", "actor")
    )


def reload(request):
    return PrivacyRequest.objects.get(id=request.id)


def test_retry_puts_failed_requests_back_and_a_worker_finishes_them(
    staff_client, staff, make, add_event, django_capture_on_commit_callbacks
):
    add_event("alice")
    first = make(status=Status.FAILURE)
    second = make(status=Status.FAILURE, distinct_ids=["bob"])

    with django_capture_on_commit_callbacks(execute=True):  # the enqueue; jobs run in process
        response = post_action(staff_client, "retry_failed", [first, second])

    assert response.status_code == HTTPStatus.FOUND
    assert messages_of(response) == [
        ("success", "2 requests retried: queued again on the same tracking id.")
    ]
    for request in (first, second):
        retried = reload(request)
        assert retried.status == Status.SUCCESS
        assert retried.attempts == 2
        assert retried.tracking_id == request.tracking_id
        assert retried.due_at == request.due_at
        assert audit_actions(request)[1] == ("retried", f"staff:{staff.email}")
        assert AuditEntry.objects.get(request=request, action="retried").detail == {
            "previous_error": "ValueError: the processor broke"
        }


def test_retry_refuses_requests_that_did_not_fail_and_says_why(staff_client, make):
    failed = make(status=Status.FAILURE)
    running = make(status=Status.STARTED, distinct_ids=["bob"])
    done = make(status=Status.SUCCESS, distinct_ids=["carol"])

    response = post_action(staff_client, "retry_failed", [failed, running, done])

    refusal = "only a request that ended FAILURE can be retried."
    assert messages_of(response) == [
        ("success", "1 request retried: queued again on the same tracking id."),
        (
            "error",
            f"1 request not retried: This request is STARTED: {refusal} ({running.tracking_id})",
        ),
        (
            "error",
            f"1 request not retried: This request is SUCCESS: {refusal} ({done.tracking_id})",
        ),
    ]
    assert reload(failed).status == Status.PENDING
    for untouched, status in ((running, Status.STARTED), (done, Status.SUCCESS)):
        assert reload(untouched).status == status
        assert reload(untouched).attempts == 1
        assert [action for action, _ in audit_actions(untouched)] == ["submitted"]


def test_cancel_revokes_pending_and_staging_requests_only(staff_client, staff, make):
    pending = make(status=Status.PENDING)
    staging = make(status=Status.STAGING, distinct_ids=["bob"])
    started = make(status=Status.STARTED, distinct_ids=["carol"])
    started_too = make(status=Status.STARTED, distinct_ids=["dave"])

    response = post_action(
        staff_client,
        "cancel_requests",
        [pending, staging, started, started_too],
        apply="1",
        reason="The customer withdrew the request by phone.",
    )

    ids = sorted(
        [started.tracking_id, started_too.tracking_id],
        key=lambda tracking_id: (
            reload(started if tracking_id == started.tracking_id else started_too).due_at
        ),
    )
    assert messages_of(response)[0] == ("success", "2 requests canceled.")
    level, text = messages_of(response)[1]
    assert level == "error"
    assert text.startswith(
        "2 requests not canceled: This request is STARTED: a request can be "
        "canceled only while it is PENDING or STAGING; once STARTED it runs "
        "to the end. ("
    )
    assert sorted(text.rsplit("(", 1)[1].rstrip(")").split(", ")) == sorted(ids)
    for request in (pending, staging):
        canceled = reload(request)
        assert canceled.status == Status.REVOKED
        assert canceled.canceled_by == f"staff:{staff.email}"
        assert audit_actions(request)[-1] == ("canceled", f"staff:{staff.email}")
        assert AuditEntry.objects.get(request=request, action="canceled").detail == {
            "reason": "The customer withdrew the request by phone."
        }
    for request in (started, started_too):
        assert reload(request).status == Status.STARTED
        assert len(audit_actions(request)) == 1


def test_expedite_ends_a_deletions_grace_period(
    staff_client, staff, make, settings, django_capture_on_commit_callbacks
):
    settings.PRIVACY_DELETION_DELAY = 3600
    deletion = make(status=Status.STAGING, kind="deletion")
    export = make(status=Status.PENDING, kind="export", distinct_ids=["bob"])
    assert deletion.not_before > timezone.now() + timedelta(minutes=59)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(staff_client, "expedite_deletions", [deletion, export])

    assert messages_of(response) == [
        ("success", "1 request expedited."),
        (
            "error",
            "1 request not expedited: Only a deletion still in its grace period can be "
            f"expedited. ({export.tracking_id})",
        ),
    ]
    expedited = reload(deletion)
    assert expedited.not_before <= timezone.now()
    assert expedited.status == Status.SUCCESS  # its job ran at once (in-process jobs in tests)
    assert ("expedited", f"staff:{staff.email}") in audit_actions(deletion)
    assert reload(export).not_before == export.not_before
    assert len(audit_actions(export)) == 1


def test_extend_asks_for_a_reason_first_and_changes_nothing_until_then(staff_client, make):
    request = make(status=Status.PENDING)

    page = post_action(staff_client, "extend_deadline", [request])

    assert page.status_code == HTTPStatus.OK
    content = page.content.decode()
    assert f"<td><code>{request.tracking_id}</code></td>" in content
    assert 'name="reason"' in content
    assert f'<input type="hidden" name="_selected_action" value="{request.pk}">' in content
    assert '<input type="hidden" name="action" value="extend_deadline">' in content
    assert reload(request).due_at == request.due_at
    assert len(audit_actions(request)) == 1


def test_extend_without_a_reason_is_refused(staff_client, make):
    request = make(status=Status.PENDING)

    response = staff_client.post(
        CHANGELIST,
        {
            "action": "extend_deadline",
            "apply": "1",
            "_selected_action": [request.pk],
            "reason": "  ",
        },
    )

    assert response.status_code == HTTPStatus.OK
    assert "Say why the deadline is extended." in response.content.decode()
    assert reload(request).extended is False
    assert len(audit_actions(request)) == 1


def test_extend_moves_the_deadline_once_with_the_reason_audited(staff_client, staff, make):
    received = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    with time_machine.travel(received, tick=False):
        gdpr = make(status=Status.PENDING)
        ccpa = make(status=Status.FAILURE, compliance="CCPA", distinct_ids=["bob"])
        final = make(status=Status.SUCCESS, distinct_ids=["carol"])

    def extend(requests):
        return staff_client.post(
            CHANGELIST,
            {
                "action": "extend_deadline",
                "apply": "1",
                "_selected_action": [r.pk for r in requests],
                "reason": "Complex request: 40 linked ids across three products.",
                # Received in January: overdue by now, so the operator confirms.
                "confirm_overdue": "on",
            },
        )

    response = extend([gdpr, ccpa, final])

    assert response.status_code == HTTPStatus.FOUND
    assert messages_of(response) == [
        ("success", "2 requests extended."),
        (
            "error",
            "1 request not extended: This request is SUCCESS: there is no deadline left to "
            f"extend. ({final.tracking_id})",
        ),
    ]
    assert reload(gdpr).due_at == datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
    assert reload(ccpa).due_at == received + timedelta(days=90)
    entry = AuditEntry.objects.get(request=gdpr, action="extended")
    assert entry.actor == f"staff:{staff.email}"
    assert entry.detail == {
        "reason": "Complex request: 40 linked ids across three products.",
        "due_at": "2026-04-30T09:00:00+00:00",
        "previous_due_at": "2026-02-28T09:00:00+00:00",
    }
    assert reload(final).due_at == final.due_at
    staff_client.get(CHANGELIST)  # shows, and so clears, the messages

    again = extend([gdpr])

    assert messages_of(again) == [
        (
            "error",
            "1 request not extended: The deadline was already extended once; it cannot be "
            f"extended again. ({gdpr.tracking_id})",
        ),
    ]
    assert reload(gdpr).due_at == datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
    assert AuditEntry.objects.filter(request=gdpr, action="extended").count() == 1


def test_an_action_from_a_requests_page_returns_to_it(staff_client, make):
    request = make(status=Status.PENDING)
    page = reverse("admin:privacy_requests_privacyrequest_change", args=[request.pk])
    content = staff_client.get(page).content.decode()
    assert '<input type="hidden" name="action" value="cancel_requests">' in content
    assert 'value="retry_failed"' not in content  # only what its status allows

    response = staff_client.post(
        CHANGELIST,
        {
            "action": "cancel_requests",
            "_selected_action": [request.pk],
            "_return_to_request": "1",
            "apply": "1",
            "reason": "Duplicate of an earlier request.",
        },
    )

    assert response["Location"] == page
    assert reload(request).status == Status.REVOKED


def test_refusals_name_at_most_ten_tracking_ids(staff_client, make):
    done = [make(status=Status.SUCCESS, distinct_ids=[f"user{n}"]) for n in range(12)]

    response = post_action(staff_client, "cancel_requests", done, apply="1", reason="Mistake.")

    ((level, text),) = messages_of(response)
    assert level == "error"
    assert text.startswith("12 requests not canceled: This request is SUCCESS")
    assert text.endswith(" and 2 more)")
    assert sum(request.tracking_id in text for request in done) == 10


def test_run_the_sweep_now(
    staff_client, staff, submit, monkeypatch, django_capture_on_commit_callbacks
):
    # A request whose enqueue was lost: PENDING with no job.
    monkeypatch.setattr(
        "privacy_requests.services.submission.privacy_request_enqueue", lambda *, tracking_id: False
    )
    lost = submit(distinct_ids=["alice"], run=True)
    old = submit(distinct_ids=["bob"])
    PrivacyRequest.objects.filter(id=old.id).update(
        status=Status.SUCCESS, finished_at=timezone.now() - timedelta(days=31)
    )
    assert reload(lost).status == Status.PENDING

    assert staff_client.get(SWEEP).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    response = staff_client.post(SWEEP)

    assert response["Location"] == CHANGELIST
    assert messages_of(response) == [
        ("success", "Sweep done: enqueued 1, enqueue failed 0, pseudonymized 1 requests.")
    ]
    assert reload(lost).status == Status.SUCCESS
    assert AuditEntry.objects.get(request=old, action="pseudonymized").actor == (
        f"staff:{staff.email}"
    )


def test_staff_without_the_change_permission_get_no_actions(client, make):
    viewer = staff_user(superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_privacyrequest"))
    sign_in_with_mfa(client, viewer)
    request = make(status=Status.FAILURE)

    listing = client.get(CHANGELIST)
    response = post_action(client, "retry_failed", [request])
    sweep = client.post(SWEEP)

    assert listing.status_code == HTTPStatus.OK
    assert listing.context["action_form"] is None
    assert "Run the sweep now" not in listing.content.decode()
    assert response.status_code == HTTPStatus.OK  # the list again; no action ran
    assert messages_of(sweep) == [
        ("error", "You may not run the sweep: it needs the permission to change privacy requests.")
    ]
    assert reload(request).status == Status.FAILURE
    assert len(audit_actions(request)) == 1


def test_a_processor_failure_then_an_admin_retry_succeeds(
    staff_client, submit, add_event, monkeypatch, django_capture_on_commit_callbacks
):
    add_event("alice")

    def broken(run):
        raise ValueError("event 42 has a time the export cannot represent")

    export_processor = registry.PROCESSORS["export"]
    monkeypatch.setitem(registry.PROCESSORS, "export", broken)
    failed = reload(submit(distinct_ids=["alice"], run=True))
    assert failed.status == Status.FAILURE
    monkeypatch.setitem(registry.PROCESSORS, "export", export_processor)

    with django_capture_on_commit_callbacks(execute=True):
        post_action(staff_client, "retry_failed", [failed])

    retried = reload(failed)
    assert retried.status == Status.SUCCESS
    assert retried.counts == {
        "events": 1,
        "profiles": 0,
        "identities": 0,
        "identity_evidence": 0,
    }
    assert [action for action, _ in audit_actions(failed)] == [
        "submitted",
        "staged",
        "started",
        "failed",
        "retried",
        "staged",
        "started",
        "succeeded",
    ]
