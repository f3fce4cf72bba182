"""Where a callback may go (issue 19, safety): https only, public addresses only.

A callback URL is typed by a customer, so without these rules the worker would fetch whatever
it is pointed at: the cloud's metadata service, Redis on localhost, the office network. The
host is resolved at every delivery and every address it resolves to is checked (a name that
resolves to a public address at registration may resolve to 127.0.0.1 later: DNS rebinding);
the connection then goes to the checked address itself, never to a second lookup. Numeric
tricks (2130706433, 0x7f.1, 0177.0.0.1, [::ffff:127.0.0.1]) resolve to what they mean and are
refused like the plain form. `CALLBACK_ALLOW_HTTP` and `CALLBACK_ALLOW_PRIVATE_ADDRESSES` lift
the rules for a developer's machine and the tests.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 500  # the columns'


class UnsafeCallbackUrl(Exception):
    """The URL or an address it resolves to is not one callbacks may go to."""


@dataclass(frozen=True)
class CallbackTarget:
    scheme: str
    host: str
    port: int
    path: str  # with the query string


def url_parse(url: str) -> CallbackTarget:
    """The URL's parts, if its form is one callbacks accept; raises UnsafeCallbackUrl."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or not c.isprintable() for c in url):
        raise UnsafeCallbackUrl(
            f"A callback URL is at most {MAX_URL_LENGTH} characters, without spaces or "
            "control characters."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeCallbackUrl(f"{url!r} is not a valid URL.") from exc
    allowed = ("https", "http") if settings.CALLBACK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeCallbackUrl("Callback URLs must start with https://.")
    if not parts.hostname:
        raise UnsafeCallbackUrl("The callback URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeCallbackUrl("A callback URL may not carry a user name or password.")
    if parts.fragment:
        raise UnsafeCallbackUrl("A callback URL may not have a #fragment.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default_port = 443 if parts.scheme == "https" else 80
    return CallbackTarget(parts.scheme, parts.hostname, port or default_port, path)


def address_refusal(address: str) -> str:
    """Why callbacks may not go to this IP address; "" when they may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_unspecified:  # connecting to it reaches this machine
        return f"{ip} is the unspecified address (this machine)"
    if ip.is_link_local:
        return f"{ip} is a link-local address (cloud metadata services live there)"
    if ip.is_private:
        return f"{ip} is a private address"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return f"{ip} is not a public address"
    return ""


def _resolve(host: str, port: int, *, numeric_only: bool = False) -> list[str]:
    flags = socket.AI_NUMERICHOST if numeric_only else 0
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def addresses_check(target: CallbackTarget) -> list[str]:
    """The addresses to connect to, all of them allowed; raises UnsafeCallbackUrl. A host that
    does not resolve raises OSError, a failure worth retrying."""
    addresses = _resolve(target.host, target.port)
    if not settings.CALLBACK_ALLOW_PRIVATE_ADDRESSES:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                raise UnsafeCallbackUrl(f"Refused: {target.host} resolves to {refusal}.")
    return addresses


def url_check_at_registration(url: str) -> None:
    """The checks that need no DNS: the form, and a host written as an address or named
    localhost. The delivery resolves the name and checks again."""
    target = url_parse(url)
    if settings.CALLBACK_ALLOW_PRIVATE_ADDRESSES:
        return
    host = target.host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise UnsafeCallbackUrl(f"Refused: {target.host} is this machine.")
    try:
        addresses = _resolve(target.host, target.port, numeric_only=True)
    except OSError:
        return  # a name: resolved and checked at each delivery
    for address in addresses:
        refusal = address_refusal(address)
        if refusal:
            raise UnsafeCallbackUrl(f"Refused: {refusal}.")
