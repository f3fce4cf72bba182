"""The test suite: fast hashing, in-memory email, jobs run synchronously in the test process."""

from config.settings.base import *  # noqa: F403
from config.settings.base import REDIS_URL

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Unit tests run jobs in process; end-to-end tests start real workers against REDIS_URL.
JOBS_SYNC = True
TEST_REDIS_URL = REDIS_URL
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "private": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = None
PRIVACY_ADMIN_REQUIRE_MFA = True
# Serve static files straight from static/ so tests can fetch them without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
PRIVACY_RETRY_BACKOFF = [0, 0, 0]
# Tests of the rate limit set their own; everything else must not trip over it.
PRIVACY_API_RATES = {"create": "1000/s", "read": "1000/s", "auth_failure": "1000/s"}
# Test receivers listen on 127.0.0.1 over http; the address checks' own tests turn this off.
CALLBACK_ALLOW_HTTP = True
CALLBACK_ALLOW_PRIVATE_ADDRESSES = True
CALLBACK_RETRY_BASE_SECONDS = 1
