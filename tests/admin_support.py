"""Staff users for back-office tests: a TOTP authenticator, codes computed as an app would, and a
test client whose session has passed MFA."""

import time
import uuid

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value

from tests.factories import DEFAULT_PASSWORD, UserFactory

# Base32, as an authenticator app stores it.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TOTP_PERIOD = 30


def totp_code(secret: str = TOTP_SECRET, *, at: float | None = None) -> str:
    """The code an authenticator app shows at `at` (now by default)."""
    return format_hotp_value(
        hotp_value(secret, int(at if at is not None else time.time()) // TOTP_PERIOD)
    )


def fresh_totp_code(secret: str = TOTP_SECRET, *, margin: float = 3.0) -> str:
    """A code with at least `margin` seconds of its period left, so it is still valid when the
    server checks it (TOTP_TOLERANCE is 0: only the current period counts)."""
    left = TOTP_PERIOD - time.time() % TOTP_PERIOD
    if left < margin:
        time.sleep(left + 0.05)
    return totp_code(secret)


def staff_user(*, totp: bool = True, superuser: bool = True, email: str | None = None):
    """An active staff user with a verified address, who can sign in through allauth."""
    user = UserFactory(
        is_staff=True,
        is_superuser=superuser,
        email=email or f"operator-{uuid.uuid4().hex[:8]}@example.com",
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    if totp:
        TOTP.activate(user, TOTP_SECRET)
    return user


def sign_in_with_mfa(client, user) -> None:
    """Signs `user` in with the session allauth leaves after a password and a TOTP code."""
    client.force_login(user)
    session = client.session
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time(), "email": user.email},
        {"method": "mfa", "at": time.time(), "id": authenticator.pk, "type": "totp"},
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()


__all__ = [
    "DEFAULT_PASSWORD",
    "TOTP_SECRET",
    "fresh_totp_code",
    "sign_in_with_mfa",
    "staff_user",
    "totp_code",
]
