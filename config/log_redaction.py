"""Request targets as logs may hold them (DESIGN section 9): no bearer secret, no query string.

Some paths are credentials: a download link (`/downloads/<tracking_id>/<signature>/`) lets
whoever holds it fetch an export, and allauth's password-reset and email-confirmation links
hold their keys. Their secret segment becomes `[redacted]`; the tracking id before it stays,
so a log line still says which request a failed download was about.

Query strings are dropped whole, on every path: they carry end users' data (`/track?data=…`,
the engage query's `where` and `distinct_id`, the back office's searches) and tokens, and which
of their parameters are harmless is not something a log formatter should have to know. The
path, the method and the status are what an access log needs.

Everything that logs a request goes through here: gunicorn's access and error logs
(`config.gunicorn_logging`), and the `django.request`, `django.server` and
`django.security.csrf` loggers (`RedactSecretsFilter`, installed by the settings' LOGGING).
"""

import logging
import re
from collections.abc import Mapping

REDACTED = "[redacted]"

# The segment after each prefix is a bearer secret. The prefixes are the URLs' own
# (privacy_requests/urls.py and allauth's); tests/config/test_log_redaction.py reverses those
# URLs, so a moved URL fails a test rather than leaking.
SECRET_SEGMENTS = (
    # A signed download link: the signature follows the tracking id.
    re.compile(r"(/downloads/[^/?#\s\"]*/)[^/?#\s\"]+"),
    # allauth: /accounts/password/reset/key/<uidb36>-<key>/
    re.compile(r"(/accounts/password/reset/key/)[^/?#\s\"]+"),
    # allauth: /accounts/confirm-email/<key>/
    re.compile(r"(/accounts/confirm-email/)[^/?#\s\"]+"),
    # An invitation to join an organization: /invitations/<token>/
    re.compile(r"(/invitations/)[^/?#\s\"]+"),
)
# A query string after a path (a path starts with "/"; "ok?" in a sentence is no query), up to
# the next space: a request target holds none, whatever else a client puts in it.
QUERY = re.compile(r"(/[^?\s\"]*)\?\S*")


def redact_text(text: str) -> str:
    """`text` (a path, a request line, an absolute URL, a log message) with the secret path
    segments and every query string of a path replaced by `[redacted]`."""
    for pattern in SECRET_SEGMENTS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return QUERY.sub(rf"\g<1>?{REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
    """Redacts the string arguments (and the message) of every record it sees; drops none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(value) for value in record.args)
        return True


def _redacted(value: object) -> object:
    return redact_text(value) if isinstance(value, str) else value
