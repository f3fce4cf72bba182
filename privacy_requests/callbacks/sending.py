"""One HTTP POST of a callback, to an address already checked (callbacks.addresses).

The standard library's http.client, pinned to that address: the TLS name check and the Host
header still use the URL's host name, and nothing follows a redirect (a 3xx is an answer that
is not 2xx, so the delivery is tried again later, never sent elsewhere).
"""

import http.client
import socket
import ssl
from dataclasses import dataclass

from django.conf import settings

from privacy_requests.callbacks.addresses import CallbackTarget, addresses_check, url_parse

USER_AGENT = "privacy-requests-callbacks/1"
READ_LIMIT = 64 * 1024  # what is read of an answer before closing: only its code counts


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Answer:
    status: int


def callback_post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POSTs to the first allowed address of the URL's host. Raises UnsafeCallbackUrl (never
    to be retried), or OSError / http.client.HTTPException (timeouts, refused connections,
    TLS errors: retried)."""
    target: CallbackTarget = url_parse(url)
    address = addresses_check(target)[0]
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(
        target.host, target.port, address=address, timeout=settings.CALLBACK_TIMEOUT_SECONDS
    )
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        response = connection.getresponse()
        response.read(READ_LIMIT)
        return Answer(status=response.status)
    finally:
        connection.close()
