"""The event retention setting on a project's settings page: owners and admins set it, members
cannot, bad values are refused in words, and the page says what retention last did."""

from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.models import Role
from privacy_requests.models import AuditAction, AuditEntry
from privacy_requests.retention.models import RetentionRun
from privacy_requests.web.retention_forms import RANGE_HINT

pytestmark = pytest.mark.django_db


def retention_url(project) -> str:
    return reverse("projects:event_retention", args=[project.id])


def settings_url(project) -> str:
    return reverse("projects:settings", args=[project.id])


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def setting_and_audit(project) -> tuple:
    project.refresh_from_db()
    changes = AuditEntry.objects.filter(action=AuditAction.EVENT_RETENTION_CHANGED)
    return project.keep_events_months, list(changes.values_list("detail", flat=True))


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_set_the_retention(client, make_member, project, role):
    client.force_login(make_member(role))

    response = client.post(
        retention_url(project), {"keep_events_months": "13", "confirm": "on"}, follow=True
    )

    assert response.redirect_chain == [(settings_url(project), HTTPStatus.FOUND)]
    assert shown_messages(response) == [
        "Events are kept for 13 months: older ones are removed within a day, and each removal "
        "is recorded in the organization's audit trail."
    ]
    page = response.content.decode()
    assert '<p id="retention-state">Events are kept for <strong>13 months</strong>.</p>' in page
    assert "Retention has not run yet" in page
    assert setting_and_audit(project) == (13, [{"project": project.id, "from": None, "to": 13}])


def test_members_get_403_and_others_404_and_nothing_changes(client, member, outsider, project):
    data = {"keep_events_months": "1", "confirm": "on"}

    client.force_login(member)
    forbidden = client.post(retention_url(project), data)
    client.force_login(outsider)
    hidden = client.post(retention_url(project), data)

    assert forbidden.status_code == HTTPStatus.FORBIDDEN
    assert "can change the settings of its projects" in forbidden.content.decode()
    assert hidden.status_code == HTTPStatus.NOT_FOUND
    assert setting_and_audit(project) == (None, [])


@pytest.mark.parametrize("value", ["0", "-3", "121", "1.5", "twelve"])
def test_bad_values_are_refused_with_the_range(client, owner, project, value):
    client.force_login(owner)

    response = client.post(retention_url(project), {"keep_events_months": value, "confirm": "on"})

    assert response.status_code == HTTPStatus.OK
    form = response.context["retention_form"]
    assert form.errors == {"keep_events_months": [RANGE_HINT]}
    assert RANGE_HINT in response.content.decode()
    assert setting_and_audit(project) == (None, [])


def test_shortening_needs_the_tick_and_lengthening_or_turning_off_does_not(client, owner, project):
    client.force_login(owner)
    project.keep_events_months = 24
    project.save(update_fields=["keep_events_months"])

    refused = client.post(retention_url(project), {"keep_events_months": "6"})
    lengthened = client.post(retention_url(project), {"keep_events_months": "36"}, follow=True)
    turned_off = client.post(retention_url(project), {"keep_events_months": ""}, follow=True)

    assert refused.context["retention_form"].errors == {
        "confirm": [
            "Tick the box to confirm: events that happened more than 6 months ago will be "
            "removed for good."
        ]
    }
    assert shown_messages(lengthened) == [
        "Events are kept for 36 months: older ones are removed within a day, and each removal "
        "is recorded in the organization's audit trail."
    ]
    assert shown_messages(turned_off) == [
        "Retention is off: events are kept until a deletion request removes them."
    ]
    assert setting_and_audit(project) == (
        None,
        [
            {"project": project.id, "from": 24, "to": 36},
            {"project": project.id, "from": 36, "to": None},
        ],
    )


@pytest.mark.parametrize(
    "run, sentence",
    [
        (
            {"finished_at": datetime(2026, 12, 3, 4, 0, tzinfo=UTC), "events_removed": 1234},
            'Retention last ran on <time datetime="2026-12-03T04:00:00+00:00">2026-12-03 04:00 '
            "UTC</time> and removed 1234 events that happened before 3 December 2025.",
        ),
        (
            {"finished_at": datetime(2026, 12, 3, 4, 0, tzinfo=UTC), "events_removed": 0},
            "UTC</time>: no event had happened before 3 December 2025, so nothing was removed.",
        ),
        (
            {"finished_at": None, "events_removed": 1},
            "removing events that happened before 3 December 2025: 1 event removed so far.",
        ),
    ],
)
def test_owners_see_when_retention_last_ran_and_what_it_removed(
    client, owner, project, run, sentence
):
    project.keep_events_months = 12
    project.save(update_fields=["keep_events_months"])
    RetentionRun.objects.create(
        project=project,
        keep_events_months=12,
        cutoff=datetime(2025, 12, 3, tzinfo=UTC),
        started_at=datetime(2026, 12, 3, 3, 59, tzinfo=UTC),
        **run,
    )
    client.force_login(owner)

    page = client.get(settings_url(project)).content.decode()

    assert sentence in page
