"""The audit trail in the back office: read-only, filterable, and verifiable chain by chain."""

from datetime import UTC, datetime
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from privacy_requests.audit import audit_append
from privacy_requests.models import AuditEntry
from tests.admin_support import sign_in_with_mfa, staff_user
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/privacy_requests/auditentry/"
VERIFY_ALL = "/admin/privacy_requests/auditentry/verify/"


@pytest.fixture
def staff_client(client):
    sign_in_with_mfa(client, staff_user())
    return client


@pytest.fixture
def chains():
    """Two organizations with three entries each, on known days."""
    first, second = OrganizationFactory(name="Acme"), OrganizationFactory(name="Globex")
    for organization in (first, second):
        for day, action in ((1, "submitted"), (2, "canceled"), (3, "submitted")):
            with time_machine.travel(datetime(2026, 2, day, 10, 0, tzinfo=UTC), tick=False):
                audit_append(
                    organization_id=organization.id, actor="cli", action=action, detail={"day": day}
                )
    return first, second


def listed(response) -> list[tuple[str, int]]:
    assert response.status_code == HTTPStatus.OK
    return sorted(
        (entry.organization.name, entry.seq) for entry in response.context["cl"].result_list
    )


def messages_of(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def test_filters_by_organization_action_and_date(staff_client, chains):
    first, _ = chains

    assert listed(staff_client.get(CHANGELIST, {"organization__id__exact": first.id})) == [
        ("Acme", 1),
        ("Acme", 2),
        ("Acme", 3),
    ]
    assert listed(staff_client.get(CHANGELIST, {"action": "canceled"})) == [
        ("Acme", 2),
        ("Globex", 2),
    ]
    assert listed(
        staff_client.get(
            CHANGELIST,
            {"at__gte": "2026-02-02 00:00:00+00:00", "at__lt": "2026-02-03 00:00:00+00:00"},
        )
    ) == [("Acme", 2), ("Globex", 2)]
    assert listed(
        staff_client.get(CHANGELIST, {"at__year": 2026, "at__month": 2, "at__day": 3})
    ) == [("Acme", 3), ("Globex", 3)]


def test_audit_entries_are_read_only(staff_client, chains):
    entry = AuditEntry.objects.first()
    change = reverse("admin:privacy_requests_auditentry_change", args=[entry.id])

    assert staff_client.get(change).status_code == HTTPStatus.OK
    assert 'name="_save"' not in staff_client.get(change).content.decode()
    assert staff_client.post(change, {"action": "forged"}).status_code == HTTPStatus.FORBIDDEN
    assert staff_client.get(reverse("admin:privacy_requests_auditentry_add")).status_code == (
        HTTPStatus.FORBIDDEN
    )
    assert (
        staff_client.get(
            reverse("admin:privacy_requests_auditentry_delete", args=[entry.id])
        ).status_code
        == HTTPStatus.FORBIDDEN
    )
    actions = staff_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions] == ["", "verify_chains"]
    entry.refresh_from_db()
    assert entry.action == "submitted"


def test_verify_reports_intact_chains(staff_client, chains):
    first, second = chains
    selected = AuditEntry.objects.filter(organization=first, seq=2)

    response = staff_client.post(
        CHANGELIST,
        {"action": "verify_chains", "index": 0, "_selected_action": [e.id for e in selected]},
    )

    assert messages_of(response) == [("success", f"1 audit chain intact: Acme (#{first.id}).")]


def test_verify_reports_the_first_broken_link_of_each_organization(staff_client, chains):
    first, second = chains
    tampered = AuditEntry.objects.get(organization=first, seq=2)
    AuditEntry.objects.filter(id=tampered.id).update(detail={"day": 99})
    AuditEntry.objects.filter(organization=first, seq=3).update(detail={"day": 98})

    response = staff_client.post(VERIFY_ALL)

    assert response["Location"] == CHANGELIST
    assert messages_of(response) == [
        (
            "error",
            f"Audit chain of Acme (#{first.id}) is broken at entry #2 (id {tampered.id}): "
            "the entry's content does not match its hash.",
        ),
        ("success", f"1 audit chain intact: Globex (#{second.id})."),
    ]


def test_verify_all_needs_a_post(staff_client, chains):
    assert staff_client.get(VERIFY_ALL).status_code == HTTPStatus.METHOD_NOT_ALLOWED
