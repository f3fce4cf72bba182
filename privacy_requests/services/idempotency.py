"""Idempotency-Key on API creates: the first request's answer for every repeat."""

from collections.abc import Callable

from django.db import IntegrityError, transaction

from accounts.models import User
from privacy_requests.errors import InvalidRequest
from privacy_requests.models import IdempotencyKey, PrivacyRequest

MAX_KEY_LENGTH = 255


def privacy_request_submit_once(
    *, user: User, key: str | None, kind: str, submit: Callable[[], PrivacyRequest]
) -> tuple[PrivacyRequest, bool]:
    """Runs `submit` unless this user already used `key`; returns (request, created)."""
    if key is None:
        return submit(), True
    key = key.strip()
    # Control characters (NUL above all, which PostgreSQL refuses) belong in no key.
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            field="Idempotency-Key",
        )
    existing = _existing(user=user, key=key)
    if existing is not None:
        return _same_kind(existing, kind=kind), False
    try:
        with transaction.atomic():
            request = submit()
            IdempotencyKey.objects.create(user=user, key=key, request=request)
    except IntegrityError:
        # A concurrent repeat won the race; its request stands and ours was rolled back.
        existing = _existing(user=user, key=key)
        if existing is None:
            raise
        return _same_kind(existing, kind=kind), False
    return request, True


def _existing(*, user: User, key: str) -> PrivacyRequest | None:
    row = IdempotencyKey.objects.select_related("request").filter(user=user, key=key).first()
    return row.request if row else None


def _same_kind(request: PrivacyRequest, *, kind: str) -> PrivacyRequest:
    if request.kind != kind:
        raise InvalidRequest(
            "This Idempotency-Key was already used for another kind of request.",
            field="Idempotency-Key",
        )
    return request
