"""Emails of DESIGN section 8: to the requester when a request ends (SUCCESS, FAILURE or
REVOKED), and to the organization's owners and admins 7 days before a due date.

Emails link to pages (absolute URLs: workers and the sweep have no HTTP request, so SITE_URL, or
when it is not set the site the request was submitted through, recorded on it),
never to a download, and hold no distinct_id: only the request's tracking id, project and counts.
A failed send is logged and never breaks the caller; the engine calls these after commit.
"""

import logging
import smtplib
from datetime import datetime

from django.core.mail import EmailMessage, get_connection
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.actors import SYSTEM
from accounts.models import User
from accounts.selectors import MANAGER_ROLES
from config.site_url import email_site_url
from privacy_requests.audit import audit_append
from privacy_requests.deadlines import deadline_state, due_or_overdue_q, open_q
from privacy_requests.models import AuditAction, PrivacyRequest, RequestKind, Status
from privacy_requests.permissions import can_act_on_privacy_requests

logger = logging.getLogger(__name__)

NOTIFIED_STATUSES = (Status.SUCCESS, Status.FAILURE, Status.REVOKED)
SEND_ERRORS = (smtplib.SMTPException, OSError)


def request_page_url(request: PrivacyRequest) -> str:
    path = reverse("privacy_web:detail", args=[request.organization_id, request.tracking_id])
    return email_site_url(request.site_url) + path


def _context(request: PrivacyRequest) -> dict:
    return {
        "request": request,
        "kind": RequestKind(request.kind).label.lower(),
        "ids": request.subjects.filter(linked=False).count(),
        "page_url": request_page_url(request),
        "site_url": email_site_url(request.site_url),
    }


def _render(name: str, context: dict) -> tuple[str, str]:
    subject = render_to_string(f"privacy_requests/email/{name}_subject.txt", context)
    body = render_to_string(f"privacy_requests/email/{name}_message.txt", context)
    return " ".join(subject.split()), body


def privacy_request_notify_finished(*, tracking_id: str) -> bool:
    """Emails the person who submitted the request that it ended; True when sent. Nobody is
    emailed for requests of staff or the command line, or a requester who may no longer see
    the organization's requests."""
    request = (
        PrivacyRequest.objects.select_related("project__organization", "organization", "requester")
        .filter(tracking_id=tracking_id)
        .first()
    )
    if request is None or request.status not in NOTIFIED_STATUSES:
        return False
    user = request.requester
    if user is None or not user.is_active or not user.email:
        return False
    if not can_act_on_privacy_requests(user=user, project=request.project):
        return False
    subject, body = _render("request_finished", _context(request))
    try:
        EmailMessage(subject, body, None, [user.email]).send()
    except SEND_ERRORS:
        logger.exception("Could not email the requester of %s", tracking_id)
        return False
    return True


def _managers(request: PrivacyRequest) -> list[str]:
    return list(
        User.objects.filter(
            is_active=True,
            memberships__organization_id=request.organization_id,
            memberships__role__in=MANAGER_ROLES,
        )
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
        .distinct()
    )


def privacy_due_reminders_send(*, now: datetime | None = None) -> int:
    """Reminds owners and admins of requests due within 7 days (or overdue) that are not done;
    once per request. Returns how many requests were reminded about.

    Each request is claimed with a conditional UPDATE first, so two sweeps never both send; a
    send that fails releases the claim and the next sweep tries again.
    """
    now = now or timezone.now()
    due = (
        PrivacyRequest.objects.filter(due_or_overdue_q(now), due_reminder_sent_at__isnull=True)
        .select_related("project", "organization")
        .order_by("due_at")
    )
    reminded = 0
    connection = None
    for request in due.iterator(chunk_size=100):
        claim = open_q() & Q(id=request.id, due_reminder_sent_at__isnull=True)
        if PrivacyRequest.objects.filter(claim).update(due_reminder_sent_at=now) != 1:
            continue
        recipients = _managers(request)
        context = {
            **_context(request),
            "overdue": deadline_state(request, now=now) == "overdue",
            "days_left": max(0, (request.due_at - now).days),
        }
        subject, body = _render("due_reminder", context)
        connection = connection or get_connection()
        try:
            connection.send_messages(
                [
                    EmailMessage(subject, body, None, [email], connection=connection)
                    for email in recipients
                ]
            )
        except SEND_ERRORS:
            logger.exception("Could not send the due date reminder of %s", request.tracking_id)
            PrivacyRequest.objects.filter(id=request.id).update(due_reminder_sent_at=None)
            continue
        audit_append(
            organization_id=request.organization_id,
            actor=SYSTEM.text,
            action=AuditAction.DUE_REMINDER_SENT,
            request=request,
            detail={"due_at": request.due_at.isoformat(), "recipients": len(recipients)},
        )
        reminded += 1
    return reminded


def privacy_request_notify_approval_needed(*, tracking_id: str) -> int:
    """Emails the organization's owners and admins, except the requester, that a large deletion
    waits for their approval; returns how many were emailed."""
    request = (
        PrivacyRequest.objects.select_related("project", "organization", "requester")
        .filter(tracking_id=tracking_id)
        .first()
    )
    if request is None:
        return 0
    requester_email = request.requester.email if request.requester else ""
    recipients = [email for email in _managers(request) if email != requester_email]
    subject, body = _render("approval_needed", _context(request))
    try:
        get_connection().send_messages(
            [EmailMessage(subject, body, None, [email]) for email in recipients]
        )
    except SEND_ERRORS:
        logger.exception("Could not email the approvers of %s", tracking_id)
        return 0
    return len(recipients)
