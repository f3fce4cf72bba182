"""Idempotency-Key on API creates (DESIGN section 6), as Stripe's: for 24 hours a repeat of the
same body gets the first request's answer, and the same key with another body is refused (422)
instead of silently answering with a request the client did not ask for.

Keys belong to their principal (a person or a service account). Only a keyed hash of a key is
stored, since a client may put anything in it (an email address, say); the body is compared
by the hash of its canonical form: kind, compliance, disclosure and the normalized ids.
"""

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import Actor
from privacy_requests.deletions.scope import deletion_scope_parse
from privacy_requests.errors import IdempotencyKeyReused, InvalidRequest
from privacy_requests.models import Compliance, Disclosure, IdempotencyKey, PrivacyRequest
from privacy_requests.services.submission import choice_parse, distinct_ids_normalize

MAX_KEY_LENGTH = 255
KEY_LIFETIME = timedelta(hours=24)


def idempotency_key_hash(key: str) -> str:
    """HMAC(PRIVACY_PII_KEY, key): the only form in which a key is stored."""
    message = f"idempotency-key\x1f{key}".encode()
    return hmac.new(settings.PRIVACY_PII_KEY.encode(), message, hashlib.sha256).hexdigest()


def request_body_hash(
    *,
    kind: str,
    compliance: str,
    disclosure: str,
    distinct_ids: list[str],
    scope: list[str] | None = None,
    callback_url: str = "",
) -> str:
    """SHA-256 of the canonical form of a create: equal for bodies that ask the same thing
    ("gdpr" or "GDPR", ids repeated or not), different for any other request. A scope or a
    callback_url counts only when given, so the hashes of creates without one are what they
    always were."""
    body: dict[str, object] = {
        "kind": kind,
        "compliance": compliance,
        "disclosure": disclosure,
        "distinct_ids": distinct_ids,
    }
    if scope:
        # Only a partial deletion has one: the hashes of keys stored before are unchanged.
        body["scope"] = scope
    if callback_url:
        body["callback_url"] = callback_url
    canonical = json.dumps(
        body,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def privacy_request_submit_once(
    *,
    actor: Actor,
    key: str | None,
    kind: str,
    compliance: object,
    disclosure: object,
    distinct_ids: object,
    submit: Callable[[], PrivacyRequest],
    categories: object = None,
    sources: object = None,
    callback_url: object = None,
) -> tuple[PrivacyRequest, bool]:
    """Runs `submit` (which submits this body) unless the actor used `key` in the last 24
    hours; returns (request, created). A key already used with another body raises
    IdempotencyKeyReused."""
    if key is None:
        return submit(), True
    key = key.strip()
    # Control characters (NUL above all, which PostgreSQL refuses) belong in no key.
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            field="Idempotency-Key",
        )
    try:
        compliance = choice_parse(
            compliance, Compliance, field="compliance_type", default=Compliance.GDPR
        )
        disclosure = choice_parse(
            disclosure, Disclosure, field="disclosure_type", default=Disclosure.DATA
        )
        body_hash = request_body_hash(
            kind=kind,
            compliance=compliance.value,
            disclosure=disclosure.value,
            distinct_ids=distinct_ids_normalize(distinct_ids),
            scope=deletion_scope_parse(
                kind=kind,
                compliance=compliance,
                disclosure=disclosure,
                categories=categories,
                sources=sources,
            ),
            callback_url=callback_url.strip() if isinstance(callback_url, str) else "",
        )
    except InvalidRequest:
        # A body the service refuses creates nothing to repeat: let it refuse, in its words.
        return submit(), True
    principal = _principal(actor)
    key_hash = idempotency_key_hash(key)
    now = timezone.now()
    existing = _existing(principal=principal, key_hash=key_hash, now=now)
    if existing is not None:
        return _same_body(existing, body_hash=body_hash, key=key), False
    try:
        with transaction.atomic():
            # An expired use of the key gives way to this request.
            IdempotencyKey.objects.filter(
                **principal, key_hash=key_hash, created_at__lte=now - KEY_LIFETIME
            ).delete()
            request = submit()
            IdempotencyKey.objects.create(
                **principal, key_hash=key_hash, body_hash=body_hash, request=request, created_at=now
            )
    except IntegrityError:
        # A concurrent repeat won the race; its request stands and ours was rolled back.
        existing = _existing(principal=principal, key_hash=key_hash, now=now)
        if existing is None:
            raise
        return _same_body(existing, body_hash=body_hash, key=key), False
    return request, True


def idempotency_keys_purge_expired(*, now: datetime | None = None) -> int:
    """Deletes keys past their 24 hours (the sweep runs it); returns how many."""
    now = now or timezone.now()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=now - KEY_LIFETIME).delete()
    return deleted


def _principal(actor: Actor) -> dict:
    if actor.service_account is not None:
        return {"service_account": actor.service_account, "user": None}
    if actor.user is None:
        raise InvalidRequest(
            "Idempotency-Key needs a person or a service account.", field="Idempotency-Key"
        )
    return {"user": actor.user, "service_account": None}


def _existing(*, principal: dict, key_hash: str, now: datetime) -> IdempotencyKey | None:
    return (
        IdempotencyKey.objects.select_related("request")
        .filter(**principal, key_hash=key_hash, created_at__gt=now - KEY_LIFETIME)
        .first()
    )


def _same_body(row: IdempotencyKey, *, body_hash: str, key: str) -> PrivacyRequest:
    if not hmac.compare_digest(row.body_hash, body_hash):
        raise IdempotencyKeyReused(
            f"The Idempotency-Key '{key}' was already used for a different request in the last "
            "24 hours (another kind, compliance_type, disclosure_type or distinct_ids): use "
            "another key for a different request."
        )
    return row.request
