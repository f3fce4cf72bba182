"""A developer's machine: the run command's embedded default."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool

DEBUG = env_bool("DEBUG", True)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
PRIVACY_ADMIN_REQUIRE_MFA = env_bool("PRIVACY_ADMIN_REQUIRE_MFA", False)
