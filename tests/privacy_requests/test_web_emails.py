"""Emails of DESIGN section 8: the requester when a request ends, owners and admins 7 days
before a due date. They link to pages, never to a download, and hold no distinct_id."""

import re
import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Membership, Role
from privacy_requests.engine import registry
from privacy_requests.models import AuditEntry, PrivacyRequest, RequestDraft, Status
from privacy_requests.services import (
    privacy_request_cancel,
    privacy_request_extend,
    privacy_sweep,
)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SITE = "https://privacy.example.com"
IDS = ("alice@example.org", "Bob-42")


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE


@pytest.fixture(autouse=True)
def queue_left_alone(monkeypatch):
    """Jobs run in process in tests: the sweep must not process the requests it reminds of."""
    monkeypatch.setattr(
        "privacy_requests.services.sweep.privacy_request_enqueue",
        lambda *, tracking_id, replace=False: True,
    )


def page_link(request) -> str:
    return f"{SITE}/orgs/{request.organization_id}/privacy/{request.tracking_id}/"


def assert_safe(message, request) -> None:
    """Links only to the request's page; no distinct_id; no download."""
    text = message.subject + "\n" + message.body
    assert re.findall(r"https?://\S+", text) == [page_link(request)]
    for distinct_id in IDS:
        assert distinct_id not in text
    assert "/downloads/" not in text


def test_the_requester_is_emailed_when_an_export_succeeds(submit, owner_actor, project, add_event):
    add_event(IDS[0])
    request = submit(distinct_ids=IDS, run=True)
    request.refresh_from_db()

    assert request.status == Status.SUCCESS
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [owner_actor.user.email]
    assert message.subject == f"Your GDPR export is ready ({project.name})"
    assert (
        f'The GDPR export you requested for 2 ids in the project "{project.name}" '
        f"({project.organization.name}) is ready."
    ) in message.body
    assert_safe(message, request)


def test_the_requester_is_emailed_when_a_deletion_is_done(submit, owner_actor, project):
    request = submit(distinct_ids=IDS, kind="deletion", run=True)

    assert [message.subject for message in mail.outbox] == [
        f"Your GDPR deletion is done ({project.name})"
    ]
    assert "offers the deletion receipt" in mail.outbox[0].body
    assert_safe(mail.outbox[0], request)


def test_the_requester_is_emailed_when_a_request_fails_without_the_error(
    submit, owner_actor, project, monkeypatch
):
    def broken(run):
        raise ValueError(f"cannot read {IDS[0]}")

    monkeypatch.setitem(registry.PROCESSORS, "export", broken)

    request = submit(distinct_ids=IDS, run=True)

    assert PrivacyRequest.objects.get(id=request.id).status == Status.FAILURE
    assert [message.subject for message in mail.outbox] == [
        f"Your GDPR export failed ({project.name})"
    ]
    assert "The request's page says why, and you can retry it there" in mail.outbox[0].body
    assert_safe(mail.outbox[0], request)


def test_the_requester_is_emailed_when_someone_cancels(
    submit, owner_actor, project, django_capture_on_commit_callbacks
):
    request = submit(distinct_ids=IDS, kind="deletion")
    admin = MembershipFactory(organization=project.organization, role=Role.ADMIN).user

    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_cancel(request=request, actor=Actor(user=admin, via="web"))

    assert [(message.to, message.subject) for message in mail.outbox] == [
        ([owner_actor.user.email], f"Your GDPR deletion was canceled ({project.name})")
    ]
    assert (
        f"was canceled by {admin.email} on this site. Nothing was deleted." in mail.outbox[0].body
    )
    assert_safe(mail.outbox[0], request)


def test_no_email_to_a_requester_who_may_no_longer_see_requests(submit, owner_actor, project):
    Membership.objects.filter(user=owner_actor.user).update(role=Role.MEMBER)
    MembershipFactory(organization=project.organization, role=Role.OWNER)  # someone else

    submit(run=True, actor=Actor(user=owner_actor.user, via="system"))
    submit(run=True, actor=Actor(user=None, via="cli"))

    assert mail.outbox == []


def test_an_email_that_cannot_be_sent_does_not_change_how_the_request_ended(
    submit, monkeypatch, caplog
):
    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)

    request = submit(run=True)

    assert PrivacyRequest.objects.get(id=request.id).status == Status.SUCCESS
    assert "Could not email the requester of" in caplog.text


# --- due date reminders ---------------------------------------------------------------------


@pytest.fixture
def due_soon(submit, project):
    """A PENDING request due in 6 days, and the organization's owners, admin and member."""
    admin = MembershipFactory(organization=project.organization, role=Role.ADMIN).user
    MembershipFactory(organization=project.organization, role=Role.MEMBER)
    inactive = MembershipFactory(organization=project.organization, role=Role.ADMIN).user
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    request = submit(distinct_ids=IDS)
    PrivacyRequest.objects.filter(id=request.id).update(
        due_at=timezone.now() + timedelta(days=6, hours=1)
    )
    request.refresh_from_db()
    return request, admin


def test_owners_and_admins_are_reminded_once_seven_days_before_the_due_date(
    due_soon, owner_actor, project
):
    request, admin = due_soon

    first = privacy_sweep()
    second = privacy_sweep()

    assert (first.due_reminders, second.due_reminders) == (1, 0)
    assert "sent 1 due date reminders" in first.as_text()
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [owner_actor.user.email, admin.email]
    )
    message = mail.outbox[0]
    assert message.subject == f"Due in 6 days: GDPR export in {project.name}"
    assert "It has not finished yet: check on it from its page." in message.body
    assert_safe(message, request)
    entry = AuditEntry.objects.get(request=request, action="due_reminder_sent")
    assert entry.detail == {"due_at": request.due_at.isoformat(), "recipients": 2}
    assert PrivacyRequest.objects.get(id=request.id).due_reminder_sent_at is not None


@pytest.mark.parametrize(
    ("status", "days", "reminded"),
    [
        (Status.PENDING, 8, False),
        (Status.STARTED, 7, True),
        (Status.FAILURE, 2, True),
        (Status.PENDING, -3, True),
        (Status.SUCCESS, 2, False),
        (Status.REVOKED, 2, False),
    ],
)
def test_which_requests_are_reminded_about(submit, status, days, reminded):
    request = submit()
    PrivacyRequest.objects.filter(id=request.id).update(
        status=status, due_at=timezone.now() + timedelta(days=days) - timedelta(minutes=1)
    )

    report = privacy_sweep()

    assert report.due_reminders == (1 if reminded else 0)
    assert len(mail.outbox) == (1 if reminded else 0)


def test_an_overdue_request_says_so(submit, project):
    request = submit()
    PrivacyRequest.objects.filter(id=request.id).update(due_at=timezone.now() - timedelta(days=1))

    privacy_sweep()

    assert mail.outbox[0].subject == f"Overdue: GDPR export in {project.name}"


def test_a_reminder_that_cannot_be_sent_is_tried_again_by_the_next_sweep(due_soon, monkeypatch):
    request, _ = due_soon
    sent = []

    def flaky(self, messages):
        if not sent:
            sent.append("refused")
            raise smtplib.SMTPServerDisconnected("gone")
        sent.extend(messages)
        return len(messages)

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", flaky)

    assert privacy_sweep().due_reminders == 0
    assert PrivacyRequest.objects.get(id=request.id).due_reminder_sent_at is None
    assert not AuditEntry.objects.filter(action="due_reminder_sent").exists()

    assert privacy_sweep().due_reminders == 1
    assert len(sent) == 3  # the refusal, then the two recipients


def test_the_sweep_purges_expired_request_drafts(project):
    user = UserFactory()
    now = timezone.now()
    RequestDraft.objects.create(
        user=user,
        organization=project.organization,
        project=project,
        kind="export",
        compliance="GDPR",
        distinct_ids=["alice"],
        created_at=now,
        expires_at=now - timedelta(seconds=1),
    )
    fresh = RequestDraft.objects.create(
        user=user,
        organization=project.organization,
        project=project,
        kind="deletion",
        compliance="GDPR",
        distinct_ids=["bob"],
        created_at=now,
        expires_at=now + timedelta(minutes=15),
    )

    report = privacy_sweep()

    assert report.purged_drafts == 1
    assert list(RequestDraft.objects.all()) == [fresh]
    assert "purged 1 expired request previews" in report.as_text()


def test_an_extended_deadline_is_reminded_about_again(due_soon, owner_actor):
    request, _ = due_soon
    assert privacy_sweep().due_reminders == 1

    extended = privacy_request_extend(request=request, actor=owner_actor, reason="Large account")
    assert privacy_sweep().due_reminders == 0  # the new deadline is months away
    PrivacyRequest.objects.filter(id=request.id).update(due_at=timezone.now() + timedelta(days=3))

    assert extended.due_reminder_sent_at is None
    assert privacy_sweep().due_reminders == 1
    assert len(mail.outbox) == 4  # owner and admin, twice
