"""Request targets in logs (issue 15, finding 6): no bearer secret in a path, no query string.

The end-to-end proof, with a real gunicorn, is tests/e2e/test_secrets_in_logs.py; these pin the
rules and the URLs they protect.
"""

import base64
import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from gunicorn.config import Config

from config.gunicorn_logging import RedactingLogger
from config.log_redaction import RedactSecretsFilter, redact_text

SIGNATURE = "1uAbCd.Zx9-Qw_e3Rt5Yu7Io9Pa1Sd3Fg5Hj7Kl9"


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        (
            reverse("privacy_download", kwargs={"tracking_id": "a1b2", "signature": SIGNATURE}),
            "/downloads/a1b2/[redacted]/",
        ),
        (
            reverse(
                "account_reset_password_from_key", kwargs={"uidb36": "4", "key": "c9x-0a1b2c3d4"}
            ),
            "/accounts/password/reset/key/[redacted]/",
        ),
        (
            reverse("account_confirm_email", kwargs={"key": "MQ:1uAbCd:s3cr3tKey"}),
            "/accounts/confirm-email/[redacted]/",
        ),
        (
            reverse("accounts:invitation", kwargs={"token": "inv_s3cr3tInvitationToken"}),
            "/invitations/[redacted]/",
        ),
    ],
)
def test_the_secret_segment_of_a_bearer_link_is_redacted(url, logged):
    assert redact_text(url) == logged
    assert redact_text(f"GET {url} HTTP/1.1") == f"GET {logged} HTTP/1.1"
    assert redact_text(f"https://privacy.example.com{url}") == (
        f"https://privacy.example.com{logged}"
    )


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/track?data=eyJldmVudCI6ICJQYWdlIFZpZXcifQ%3D%3D&verbose=1", "/track?[redacted]"),
        (
            'GET /api/2.0/engage?where=properties["$email"]=="alice@example.com" HTTP/1.1',
            "GET /api/2.0/engage?[redacted] HTTP/1.1",
        ),
        ("/api/app/data-retrievals/v3.0/?token=abc", "/api/app/data-retrievals/v3.0/?[redacted]"),
        (f"/downloads/a1b2/{SIGNATURE}/?x=1", "/downloads/a1b2/[redacted]/?[redacted]"),
        ("/import", "/import"),
        ("Not Found: /healthz", "Not Found: /healthz"),
        ("Is this a question? Yes.", "Is this a question? Yes."),
    ],
)
def test_query_strings_are_dropped_and_other_text_is_kept(target, logged):
    assert redact_text(target) == logged


def test_the_filter_redacts_a_records_arguments_and_message():
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "%s: %s",
        ("Not Found", f"/downloads/a1b2/{SIGNATURE}/"),
        None,
    )

    assert RedactSecretsFilter().filter(record) is True
    assert record.getMessage() == "Not Found: /downloads/a1b2/[redacted]/"


def gunicorn_access_line(environ: dict, *, access_log_format: str | None = None) -> str:
    config = Config()
    if access_log_format is not None:
        config.set("access_log_format", access_log_format)
    logger = RedactingLogger(config)

    class Response:
        status = "404 Not Found"
        sent = 10
        headers = [("Set-Cookie", "sessionid=server-made-secret")]

    atoms = logger.atoms_wrapper_class(
        logger.atoms(Response(), environ["headers"], environ, timedelta(milliseconds=3))
    )
    return config.access_log_format % atoms


def test_gunicorn_access_atoms_hold_no_credential_whatever_the_format():
    secret = "project-api-secret-0123456789"
    basic = base64.b64encode(f"{secret}:".encode()).decode()
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/downloads/a1b2/{SIGNATURE}/?where=alice@example.com",
        "PATH_INFO": f"/downloads/a1b2/{SIGNATURE}/",
        "QUERY_STRING": "where=alice@example.com",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_AUTHORIZATION": f"Basic {basic}",
        "HTTP_COOKIE": "sessionid=browser-secret",
        "HTTP_REFERER": f"https://host/accounts/confirm-email/{SIGNATURE}/",
        "HTTP_USER_AGENT": "curl/8",
        "headers": [
            ("AUTHORIZATION", f"Basic {basic}"),
            ("COOKIE", "sessionid=browser-secret"),
            ("USER-AGENT", "curl/8"),
        ],
    }
    # gunicorn's default format, which names the user, and one asking for every credential.
    greedy = (
        '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(U)s %(q)s '
        "%({authorization}i)s %({cookie}i)s %({set-cookie}o)s %({http_authorization}e)s "
        "%({query_string}e)s %({raw_uri}e)s"
    )

    default_line = gunicorn_access_line(
        environ, access_log_format='%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    )
    greedy_line = gunicorn_access_line(environ, access_log_format=greedy)

    for line in (default_line, greedy_line):
        for secret_text in (
            secret,
            basic,
            SIGNATURE,
            "alice@example.com",
            "browser-secret",
            "server-made-secret",
        ):
            assert secret_text not in line
    assert '"GET /downloads/a1b2/[redacted]/?[redacted] HTTP/1.1" 404 10' in default_line
    assert default_line.startswith("10.0.0.7 - - [")
