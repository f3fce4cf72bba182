"""The session store: Django's database sessions, with a key that must look like one Django
made. Django accepts any cookie value of 8 characters or more as a key, and unquotes octal
escapes in cookies ("\\000" is a NUL), and PostgreSQL refuses a NUL even in a lookup: a crafted
session cookie answered 500 on every page. A key Django never makes is no session."""

import re

from django.contrib.sessions.backends import db

# Django's keys: 32 characters of VALID_KEY_CHARS (a-z, 0-9); the column holds 40.
KEY_FORMAT = re.compile(r"[a-z0-9]{8,40}")


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        return bool(key) and KEY_FORMAT.fullmatch(key or "") is not None
