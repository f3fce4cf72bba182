"""A developer's machine: the run command's embedded default."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool

DEBUG = env_bool("DEBUG", True)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
PRIVACY_ADMIN_REQUIRE_MFA = env_bool("PRIVACY_ADMIN_REQUIRE_MFA", False)
# Callbacks to a receiver on this machine, over plain http (issue 19).
CALLBACK_ALLOW_HTTP = env_bool("CALLBACK_ALLOW_HTTP", True)
CALLBACK_ALLOW_PRIVATE_ADDRESSES = env_bool("CALLBACK_ALLOW_PRIVATE_ADDRESSES", True)
