"""Which site a request came through, for the links of its emails: only a host the site names."""

import pytest
from django.test import RequestFactory

from config.site_url import DEFAULT_SITE_URL, email_site_url, submitting_site_url


@pytest.fixture
def hosts(settings):
    settings.ALLOWED_HOSTS = ["privacy.example.com", ".example.org", "127.0.0.1"]
    return settings


@pytest.mark.parametrize(
    ("host", "secure", "expected"),
    [
        ("privacy.example.com", True, "https://privacy.example.com"),
        ("privacy.example.com", False, "http://privacy.example.com"),
        ("eu.example.org", True, "https://eu.example.org"),
        ("127.0.0.1:8000", False, "http://127.0.0.1:8000"),
    ],
)
def test_a_named_host_is_the_submitting_site(hosts, host, secure, expected):
    request = RequestFactory().get("/", headers={"host": host}, secure=secure)

    assert submitting_site_url(request) == expected


@pytest.mark.parametrize("host", ["evil.example.net", "privacy.example.com.evil.net", ""])
def test_a_host_the_site_does_not_name_is_never_recorded(hosts, host):
    request = RequestFactory().get("/", headers={"host": host})

    assert submitting_site_url(request) == ""


def test_a_wildcard_names_no_host(settings):
    # ALLOWED_HOSTS = ["*"] lets Django accept any Host; a forged one must not reach an email.
    settings.ALLOWED_HOSTS = ["*"]
    request = RequestFactory().get("/", headers={"host": "evil.example.net"})

    assert submitting_site_url(request) == ""


@pytest.mark.parametrize(
    ("site_url", "recorded", "expected"),
    [
        ("https://set.example.com", "https://came.example.com", "https://set.example.com"),
        ("", "https://came.example.com/", "https://came.example.com"),
        ("", "", DEFAULT_SITE_URL),
    ],
)
def test_emails_link_to_site_url_else_the_submitting_site(settings, site_url, recorded, expected):
    settings.SITE_URL = site_url

    assert email_site_url(recorded) == expected
