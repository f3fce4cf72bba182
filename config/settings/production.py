"""Production: everything secret must come from the environment, and DEBUG stays off."""

from django.core.exceptions import ImproperlyConfigured

from config.key_strength import MIN_LENGTH, keys_problems
from config.settings.base import *  # noqa: F403
from config.settings.base import (
    INSECURE_DEFAULT_PREFIX,
    PRIVACY_AUDIT_KEY,
    PRIVACY_LOOKUP_KEY,
    PRIVACY_PII_KEY,
    SECRET_KEY,
    env_bool,
    env_int,
)

DEBUG = env_bool("DEBUG", False)
if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production settings.")
_KEYS = {
    "SECRET_KEY": SECRET_KEY,
    "PRIVACY_AUDIT_KEY": PRIVACY_AUDIT_KEY,
    "PRIVACY_PII_KEY": PRIVACY_PII_KEY,
    "PRIVACY_LOOKUP_KEY": PRIVACY_LOOKUP_KEY,
}
for _name, _value in _KEYS.items():
    if _value.startswith(INSECURE_DEFAULT_PREFIX) or len(_value) < MIN_LENGTH:
        raise ImproperlyConfigured(
            f"{_name} must be set in the environment to a random value of 32+ characters."
        )
# Guessable or shared keys (config/key_strength.py says the rule): every problem at once.
_problems = keys_problems(_KEYS)
if _problems:
    raise ImproperlyConfigured(" ".join(_problems))

PRIVACY_ADMIN_REQUIRE_MFA = env_bool("PRIVACY_ADMIN_REQUIRE_MFA", True)

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# HSTS: a year, subdomains included, by default; preloading is the domain owner's choice.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
