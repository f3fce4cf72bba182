"""Secrets handed to people once and stored only as SHA-256 hashes (DESIGN section 9)."""

import hashlib
import hmac
import secrets

from django.conf import settings

TOKEN_BYTES = 32


def token_generate(*, prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def token_matches(*, raw: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(raw), stored_hash)


def token_lookup(raw: str) -> str:
    """HMAC(PRIVACY_LOOKUP_KEY, raw): an indexed value that finds the row of a secret presented
    alone, with no name beside it. The secret is still verified against its hash after the
    lookup; the lookup value itself is worth nothing without the server's key."""
    return hmac.new(
        settings.PRIVACY_LOOKUP_KEY.encode(), raw.encode("utf-8"), hashlib.sha256
    ).hexdigest()
