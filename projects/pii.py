"""Keyed hashes that stand in for raw distinct_ids where the raw value must not be kept."""

import hashlib
import hmac

from django.conf import settings


def distinct_id_hmac(*, project_id: int, distinct_id: str) -> str:
    """HMAC(PRIVACY_PII_KEY, project ‖ id): the same id in two projects gives two values."""
    message = f"{project_id}\x1f{distinct_id}".encode()
    return hmac.new(settings.PRIVACY_PII_KEY.encode(), message, hashlib.sha256).hexdigest()
