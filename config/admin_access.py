"""Who may reach the back office (DESIGN section 9), decided in one place.

Everything under the admin's root, django-rq's queue views included, passes this middleware.
Signing in goes through allauth (BackOfficeAdminSite.login); non-staff are refused by the admin
itself. When PRIVACY_ADMIN_REQUIRE_MFA is on, a staff user must also

1. have an activated TOTP authenticator (allauth.mfa), else they are sent to set one up, and
2. have passed MFA in this session: signed in with a TOTP or recovery code, confirmed one
   since (allauth's reauthentication), or activated the authenticator in this session.
"""

from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

# Set when a staff user activates TOTP: entering the first code proved the second factor.
ENROLLED_SESSION_KEY = "back_office_mfa_enrolled_user"

MFA_SETUP_MESSAGE = (
    "The back office requires two-factor authentication. Set up an authenticator app here, "
    "then return to the back office."
)
MFA_CONFIRM_MESSAGE = (
    "The back office requires two-factor authentication in this session: enter a code from "
    "your authenticator app."
)


def staff_has_totp(user) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def mfa_passed_this_session(request: HttpRequest) -> bool:
    records = get_authentication_records(request, request.user)
    if any(record.get("method") == "mfa" for record in records):
        return True
    return request.session.get(ENROLLED_SESSION_KEY) == str(request.user.pk)


def back_office_refusal(request: HttpRequest) -> HttpResponse | None:
    """The redirect that keeps a staff user out until MFA is satisfied, or None to let in."""
    user = request.user
    if not (
        settings.PRIVACY_ADMIN_REQUIRE_MFA
        and user.is_authenticated
        and user.is_active
        and user.is_staff
    ):
        # Anonymous and non-staff users meet the admin's own sign-in and permission checks.
        return None
    if request.path in (reverse("admin:login"), reverse("admin:logout")):
        return None
    if not staff_has_totp(user):
        messages.warning(request, MFA_SETUP_MESSAGE)
        return HttpResponseRedirect(reverse("mfa_activate_totp"))
    if not mfa_passed_this_session(request):
        messages.info(request, MFA_CONFIRM_MESSAGE)
        query = urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})
        return HttpResponseRedirect(f"{reverse('mfa_reauthenticate')}?{query}")
    return None


class BackOfficeAccessMiddleware:
    """Applies back_office_refusal to every path under the admin's root."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(reverse("admin:index")):
            refusal = back_office_refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)


def _record_enrollment(sender, request, user, authenticator, **kwargs) -> None:
    if request is not None and authenticator.type == Authenticator.Type.TOTP:
        request.session[ENROLLED_SESSION_KEY] = str(user.pk)


def _forget_enrollment(sender, request, user, authenticator, **kwargs) -> None:
    if request is not None and authenticator.type == Authenticator.Type.TOTP:
        request.session.pop(ENROLLED_SESSION_KEY, None)


def connect_signals() -> None:
    from allauth.mfa import signals

    signals.authenticator_added.connect(_record_enrollment, dispatch_uid="back_office_mfa_enrolled")
    signals.authenticator_removed.connect(
        _forget_enrollment, dispatch_uid="back_office_mfa_removed"
    )
