"""Where callbacks may go (issue 19, safety): https only and public addresses only, checked
again at every delivery on the addresses the host resolves to then, no redirect followed."""

import socket

import pytest

from privacy_requests.callbacks import addresses
from privacy_requests.callbacks.addresses import (
    UnsafeCallbackUrl,
    address_refusal,
    addresses_check,
    url_check_at_registration,
    url_parse,
)
from privacy_requests.callbacks.sending import callback_post
from tests.callback_receiver import Receiver


@pytest.fixture
def strict(settings):
    settings.CALLBACK_ALLOW_HTTP = False
    settings.CALLBACK_ALLOW_PRIVATE_ADDRESSES = False


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.10", "private"),
        ("fd00:ec2::254", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "this machine"),  # noqa: S104 - the address refused
        ("::", "this machine"),
        ("100.64.0.1", "not a public address"),
        ("224.0.0.1", "not a public address"),
    ],
)
def test_addresses_that_are_not_public_are_refused(address, reason):
    assert reason in address_refusal(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(address) == ""


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://2130706433/hooks",  # 127.0.0.1 as one decimal number
        "https://0x7f000001/hooks",  # ... in hex
        "https://0177.0.0.1/hooks",  # ... in octal
        "https://127.1/hooks",  # ... with the zeros left out
        "https://[::1]/hooks",
        "https://[::ffff:7f00:1]/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5:8443/hooks",
        "https://localhost/hooks",
        "https://api.localhost/hooks",
    ],
)
def test_registration_refuses_this_machine_and_private_networks(strict, url):
    with pytest.raises(UnsafeCallbackUrl, match="Refused"):
        url_check_at_registration(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/", "must start with https://"),
        ("ftp://hooks.example.com/", "must start with https://"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("https:///nohost", "no host"),
        ("https://hooks.example.com/#x", "fragment"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com/\x00", "control characters"),
        ("https://hooks.example.com/a b", "without spaces"),
        ("https://hooks.example.com/" + "a" * 480, "at most 500 characters"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused(strict, url, message):
    with pytest.raises(UnsafeCallbackUrl, match=message):
        url_parse(url)


def test_a_public_name_is_accepted_at_registration_without_resolving_it(strict):
    url_check_at_registration("https://hooks.example.com/privacy")


def test_http_is_accepted_when_the_setting_allows_it(settings):
    settings.CALLBACK_ALLOW_HTTP = True

    assert url_parse("http://hooks.example.com/a?b=1").path == "/a?b=1"


def test_a_name_that_resolves_to_a_private_address_at_delivery_is_refused(strict, monkeypatch):
    """DNS rebinding: public when registered, 127.0.0.1 when the callback goes out."""
    url_check_at_registration("https://rebind.example.com/hooks")
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example.com":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(addresses.socket, "getaddrinfo", rebinding)

    with pytest.raises(UnsafeCallbackUrl, match="resolves to 127.0.0.1 is a loopback address"):
        addresses_check(url_parse("https://rebind.example.com/hooks"))


def test_a_delivery_to_localhost_is_refused_before_connecting(strict, settings):
    settings.CALLBACK_ALLOW_HTTP = True
    receiver = Receiver().start()
    try:
        with pytest.raises(UnsafeCallbackUrl, match="loopback"):
            callback_post(url=f"http://localhost:{receiver.port}/", body=b"{}", headers={})
    finally:
        receiver.stop()
    assert receiver.received == []


def test_a_redirect_is_an_answer_not_followed(settings):
    receiver = Receiver().start()
    try:
        answer = callback_post(url=f"{receiver.url}/redirect", body=b"{}", headers={})
    finally:
        receiver.stop()

    assert answer.status == 302
    assert [record["path"] for record in receiver.received] == ["/redirect"]
