"""GDPR API tokens (DESIGN section 6): `Authorization: Bearer <token>`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.services import gdpr_token_verify


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


class GdprTokenScheme(OpenApiAuthenticationExtension):
    target_class = GdprTokenAuthentication
    name = "gdprToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Your personal GDPR API token (Personal settings).",
        }
