"""Issue 17, items 1 and 4 in the back office: the list's subject column and tracking-id
prefix search; Cancel asks for confirmation and a reason (audited); extending an overdue
request warns and asks to confirm. Forbidden or unconfirmed posts change nothing."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services import privacy_sweep
from projects.pii import distinct_id_hmac
from tests.admin_support import sign_in_with_mfa, staff_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/privacy_requests/privacyrequest/"


@pytest.fixture
def staff():
    return staff_user()


@pytest.fixture
def staff_client(client, staff):
    sign_in_with_mfa(client, staff)
    return client


def unchanged(*requests) -> list[tuple]:
    return [
        (r.status, r.due_at, r.extended, AuditEntry.objects.filter(request=r).count())
        for r in PrivacyRequest.objects.filter(id__in=[r.id for r in requests]).order_by("id")
    ]


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def test_the_list_shows_the_first_two_given_ids_and_how_many_more(staff_client, submit, project):
    many = submit(distinct_ids=["jane", "bob", "carol", "dave"])
    old = submit(distinct_ids=["erin"], run=True)
    PrivacyRequest.objects.filter(id=old.id).update(
        status=Status.SUCCESS, finished_at=timezone.now() - timedelta(days=31)
    )
    assert privacy_sweep().pseudonymized_requests == 1

    page = staff_client.get(CHANGELIST).content.decode()

    row = page.split(f'<code title="{many.tracking_id}">')[1].split("</tr>")[0]
    assert (
        '<td class="field-subject_display"><code class="back-office-id">jane</code>, '
        '<code class="back-office-id">bob</code> <span title="4 ids given">+2</span></td>'
    ) in row
    old_row = page.split(f'<code title="{old.tracking_id}">')[1].split("</tr>")[0]
    assert '<span class="back-office-muted">1 id pseudonymized ' in old_row
    assert distinct_id_hmac(project_id=project.id, distinct_id="erin") not in old_row


def test_the_list_searches_by_the_start_of_a_tracking_id(staff_client, submit):
    first = submit(distinct_ids=["alice"])
    submit(distinct_ids=["bob"])

    response = staff_client.get(CHANGELIST, {"q": first.tracking_id[:12]})

    assert [r.tracking_id for r in response.context["cl"].result_list] == [first.tracking_id]


def test_cancel_first_asks_for_confirmation_and_a_reason(staff_client, submit):
    request = submit(distinct_ids=["alice"])
    before = unchanged(request)

    page = staff_client.post(
        CHANGELIST, {"action": "cancel_requests", "index": 0, "_selected_action": [request.pk]}
    )

    assert page.status_code == HTTPStatus.OK
    content = page.content.decode()
    assert "Cancel 1 request? Only a PENDING or STAGING request can be canceled" in content
    assert '<input type="submit" name="apply" value="Cancel 1 request" class="default">' in content
    assert '<input type="hidden" name="action" value="cancel_requests">' in content
    assert "Why are they canceled?" in content
    assert unchanged(request) == before


@pytest.mark.parametrize("reason", ["", "   "])
def test_cancel_without_a_reason_is_refused(staff_client, submit, reason):
    request = submit(distinct_ids=["alice"])
    before = unchanged(request)

    page = staff_client.post(
        CHANGELIST,
        {
            "action": "cancel_requests",
            "_selected_action": [request.pk],
            "apply": "1",
            "reason": reason,
        },
    )

    assert page.status_code == HTTPStatus.OK
    assert "Say why the requests are canceled." in page.content.decode()
    assert unchanged(request) == before


def test_cancel_with_a_reason_audits_it(staff_client, staff, submit):
    request = submit(distinct_ids=["alice"])

    response = staff_client.post(
        CHANGELIST,
        {
            "action": "cancel_requests",
            "_selected_action": [request.pk],
            "apply": "1",
            "reason": "  Duplicate of an earlier request.  ",
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    assert messages_of(response) == [("success", "1 request canceled.")]
    entry = AuditEntry.objects.get(request=request, action="canceled")
    assert (entry.actor, entry.detail) == (
        f"staff:{staff.email}",
        {"reason": "Duplicate of an earlier request."},
    )
    request.refresh_from_db()
    assert request.status == Status.REVOKED


def test_the_request_page_offers_cancel_as_a_question(staff_client, submit):
    request = submit(distinct_ids=["alice"])

    page = staff_client.get(f"{CHANGELIST}{request.pk}/change/").content.decode()

    assert '<button type="submit" class="back-office-button">Cancel…</button>' in page


def test_extending_an_overdue_request_warns_and_needs_a_confirmation(staff_client, submit):
    late = submit(distinct_ids=["alice"])
    on_time = submit(distinct_ids=["bob"])
    PrivacyRequest.objects.filter(id=late.id).update(due_at=timezone.now() - timedelta(days=2))
    data = {
        "action": "extend_deadline",
        "_selected_action": [late.pk, on_time.pk],
        "reason": "Complex request: many linked ids.",
    }
    before = unchanged(late, on_time)

    page = staff_client.post(CHANGELIST, data)
    content = page.content.decode()
    assert '<p class="errornote back-office-warning" id="overdue-warning" role="alert">' in content
    assert "<strong>1 of these requests is already overdue.</strong>" in content
    assert content.count('<span class="deadline-overdue">overdue</span>') == 1

    refused = staff_client.post(CHANGELIST, {**data, "apply": "1"})
    assert refused.status_code == HTTPStatus.OK
    assert "Confirm that you extend an overdue request." in refused.content.decode()
    assert unchanged(late, on_time) == before

    done = staff_client.post(CHANGELIST, {**data, "apply": "1", "confirm_overdue": "on"})
    assert done.status_code == HTTPStatus.FOUND
    assert messages_of(done) == [("success", "2 requests extended.")]


def test_extending_requests_on_time_needs_no_confirmation(staff_client, submit):
    request = submit(distinct_ids=["alice"])

    page = staff_client.post(
        CHANGELIST, {"action": "extend_deadline", "_selected_action": [request.pk]}
    )
    assert "overdue-warning" not in page.content.decode()
    assert "confirm_overdue" not in page.content.decode()

    done = staff_client.post(
        CHANGELIST,
        {
            "action": "extend_deadline",
            "_selected_action": [request.pk],
            "apply": "1",
            "reason": "Complex request.",
        },
    )
    assert messages_of(done) == [("success", "1 request extended.")]
