"""The site a request came through, for the links of emails sent later by a worker.

Only a host that ALLOWED_HOSTS names counts: the Host header is the client's to write, and a
forged one must never become a link in an email. A wildcard ("*") names no host, so with it
nothing is recorded and emails fall back to SITE_URL's default.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host

DEFAULT_SITE_URL = "http://127.0.0.1:8000"


def submitting_site_url(request: HttpRequest) -> str:
    """scheme://host[:port] of the request, or "" when its host is not one the site names."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return ""
    named = [pattern for pattern in settings.ALLOWED_HOSTS if pattern != "*"]
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, named):
        return ""
    return f"{request.scheme}://{host}"


def email_site_url(recorded: str) -> str:
    """Where emails link: SITE_URL when set, else the site the request came through."""
    return (settings.SITE_URL or recorded or DEFAULT_SITE_URL).rstrip("/")
