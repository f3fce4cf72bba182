"""The Standard Webhooks signature (standardwebhooks.com), which Svix and others verify.

Headers: `webhook-id` (the delivery's id, the same on every retry), `webhook-timestamp` (Unix
seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256>` over
`<webhook-id>.<webhook-timestamp>.<body>`, keyed with the base64 key after the secret's
`whsec_` prefix. The timestamp is signed, so a receiver that refuses old timestamps (five
minutes is usual) refuses a replayed body; the id lets it drop a delivery it already handled.
"""

import base64
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's marker, not a secret
TOLERANCE_SECONDS = 5 * 60


class SignatureInvalid(Exception):
    """The body, its headers or their age do not match the secret."""


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_for(*, secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secret: str, delivery_id: str, body: bytes, now: float | None = None):
    timestamp = int(now if now is not None else time.time())
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_for(
            secret=secret, delivery_id=delivery_id, timestamp=timestamp, body=body
        ),
    }


def signature_verify(
    *, secret: str, headers: dict[str, str], body: bytes, now: float | None = None
) -> None:
    """What a receiver does (the README shows it in ten lines); raises SignatureInvalid."""
    try:
        delivery_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        given = headers["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise SignatureInvalid("missing or malformed webhook headers") from exc
    now = now if now is not None else time.time()
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureInvalid("the timestamp is too old or too new: a replay?")
    expected = signature_for(secret=secret, delivery_id=delivery_id, timestamp=timestamp, body=body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        raise SignatureInvalid("no signature matches")
