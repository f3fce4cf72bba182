"""The invited person's page, and what the members page shows and sends of invitations (issue
15, finding 7).

The page at an invitation's link is open to anyone holding the link: signed out, it says whom
the invitation is for and leads to sign-in or sign-up and back; signed in with the invited
address, it offers to accept (a POST: a link opened by a mail scanner accepts nothing); signed
in with another address, it says so and accepts nothing. Every invalid link gets one page,
whatever made it invalid.
"""

import logging
import smtplib
from http import HTTPStatus
from urllib.parse import urlencode

from django.contrib import messages
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.errors import AccountsError, InvitationNotYours, InvitationUnusable
from accounts.invitations import (
    invitation_accept,
    invitation_email_normalize,
    invitation_for_person,
    invitation_is_for,
    invitation_revoke,
)
from accounts.models import Invitation, Organization, Role
from accounts.selectors import invitation_list_open

logger = logging.getLogger(__name__)


def _private(response: HttpResponse) -> HttpResponse:
    # The URL holds the link's token: no cache keeps the page, no other site sees the URL,
    # and no log line carries it (django.request would log the path of a 4xx).
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    if response.status_code >= HTTPStatus.BAD_REQUEST:
        response._has_been_logged = True  # type: ignore[attr-defined]
        logger.warning("Invitation page answered %s: /invitations/…/", response.status_code)
    return response


def _with_next(url_name: str, request: HttpRequest) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': request.path})}"


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        found = invitation_for_person(raw_token=token)
    except InvitationUnusable as exc:
        return _private(
            render(
                request,
                "accounts/invitation_unusable.html",
                {"reason": str(exc)},
                status=HTTPStatus.NOT_FOUND,
            )
        )
    context: dict[str, object] = {"invitation": found, "role": found.get_role_display()}
    if not request.user.is_authenticated:
        if request.method == "POST":
            return _private(redirect(_with_next("account_login", request)))
        context.update(
            login_url=_with_next("account_login", request),
            signup_url=_with_next("account_signup", request),
        )
        return _private(render(request, "accounts/invitation.html", context))
    actor = web_actor(request)
    if not invitation_is_for(invitation=found, actor=actor):
        status = HTTPStatus.FORBIDDEN if request.method == "POST" else HTTPStatus.OK
        if invitation_email_normalize(request.user.email) == found.email:
            context["unconfirmed"] = True
        else:
            context["wrong_account"] = True
        return _private(render(request, "accounts/invitation.html", context, status=status))
    if request.method == "GET":
        return _private(render(request, "accounts/invitation.html", context))
    try:
        membership, created = invitation_accept(actor=actor, raw_token=token)
    except InvitationNotYours:
        context["wrong_account"] = True
        return _private(
            render(request, "accounts/invitation.html", context, status=HTTPStatus.FORBIDDEN)
        )
    except AccountsError as exc:
        context["error"] = str(exc)
        return _private(
            render(request, "accounts/invitation.html", context, status=HTTPStatus.CONFLICT)
        )
    if created:
        messages.success(
            request,
            f"You joined {membership.organization.name} as {membership.get_role_display()}.",
        )
    else:
        messages.info(
            request,
            f"You were already a member of {membership.organization.name} "
            f"({membership.get_role_display()}); your role is unchanged.",
        )
    return _private(redirect("projects:list"))


def invitation_send(request: HttpRequest, *, invitation: Invitation, raw_token: str) -> bool:
    """Emails the link to the invited address and tells the inviter, in words that are the same
    whether or not the address has an account. An invitation whose email could not be sent is
    withdrawn at once: nobody could use it."""
    link = request.build_absolute_uri(reverse("accounts:invitation", args=[raw_token]))
    context = {
        "organization": invitation.organization,
        "role": invitation.get_role_display(),
        "email": invitation.email,
        "invited_by": request.user.email,
        "link": link,
        "expires_at": invitation.expires_at,
    }
    subject = " ".join(render_to_string("accounts/email/invitation_subject.txt", context).split())
    body = render_to_string("accounts/email/invitation_message.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except (smtplib.SMTPException, OSError):
        logger.exception("Could not send the email of invitation %s", invitation.id)
        invitation_revoke(actor=web_actor(request), invitation=invitation)
        messages.error(
            request,
            f"We could not send the invitation email to {invitation.email}, so no invitation "
            "was made. Try again later.",
        )
        return False
    expires = dateformat.format(invitation.expires_at, "j M Y, H:i e")
    messages.success(
        request,
        f"We sent an invitation to {invitation.email} to join as "
        f"{invitation.get_role_display()}. They become a member when they accept it; the link "
        f"works until {expires}.",
    )
    return True


def invitation_rows(*, organization: Organization, actor_role: Role) -> list[dict[str, object]]:
    """The open invitations as the members page lists them; an invitation to the owner role is
    withdrawn by owners only."""
    now = timezone.now()
    return [
        {
            "invitation": invitation,
            "expired": invitation.expires_at <= now,
            "can_revoke": invitation.role != Role.OWNER or actor_role == Role.OWNER,
        }
        for invitation in invitation_list_open(organization=organization)
    ]
