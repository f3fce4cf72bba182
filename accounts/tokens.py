"""Secrets handed to people once and stored only as SHA-256 hashes (DESIGN section 9)."""

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def token_generate(*, prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def token_matches(*, raw: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(raw), stored_hash)
