"""GDPR API credentials (DESIGN section 6): a person's GDPR token (`Authorization: Bearer
<token>`), or an organization's service account (`Authorization: Basic <username:secret>`).

A service account becomes `request.user`; `request_actor` turns either principal into the
actor the services take.
"""

import base64
import binascii

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.actors import Actor, service_account_actor
from accounts.models import ServiceAccount
from accounts.service_accounts import service_account_authenticate
from accounts.services import gdpr_token_verify

# A Basic header longer than this holds no username (80) and secret (200) of ours.
_MAX_BASIC_VALUE = 512


class GdprTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Invalid Authorization header: use 'Bearer <GDPR token>'.")
        try:
            raw_token = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("Invalid GDPR token.") from exc
        user = gdpr_token_verify(raw_token=raw_token)
        if user is None:
            raise AuthenticationFailed("Invalid or expired GDPR token.")
        return user, raw_token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate), not 403, when no token is given.
        return self.keyword


class ServiceAccountAuthentication(BaseAuthentication):
    """HTTP Basic `username:secret` of a service account; revoked and expired ones are 401."""

    keyword = "Basic"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        invalid = AuthenticationFailed(
            "Invalid Authorization header: use 'Basic <base64 of username:secret>' with a "
            "service account's credentials."
        )
        if len(header) != 2 or len(header[1]) > _MAX_BASIC_VALUE:
            raise invalid
        try:
            decoded = base64.b64decode(header[1], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise invalid from exc
        username, separator, secret = decoded.partition(":")
        if not separator or not username or not secret:
            raise invalid
        account = service_account_authenticate(username=username, secret=secret)
        if account is None:
            raise AuthenticationFailed("Invalid, revoked or expired service account credentials.")
        return account, account

    def authenticate_header(self, request) -> str:
        return self.keyword


def request_actor(request) -> Actor:
    """The actor behind an authenticated API request: a person or a service account."""
    if isinstance(request.user, ServiceAccount):
        return service_account_actor(request.user)
    return Actor(user=request.user, via="api")


class GdprTokenScheme(OpenApiAuthenticationExtension):
    target_class = GdprTokenAuthentication
    name = "gdprToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Your personal GDPR API token (Personal settings).",
        }


class ServiceAccountScheme(OpenApiAuthenticationExtension):
    target_class = ServiceAccountAuthentication
    name = "serviceAccount"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": (
                "An organization's service account with role admin, granted the project: "
                "username and secret (organization settings → Service accounts)."
            ),
        }
