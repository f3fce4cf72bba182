"""The audit chain: one HMAC chain per organization (DESIGN section 3).

hash = HMAC(PRIVACY_AUDIT_KEY, prev_hash ‖ canonical JSON of the entry). Appends lock the
organization's row, so concurrent appends queue up instead of forking the chain; the unique
(organization, seq) constraint backs that up. Actors are text, so no deleted user can take an
entry with it; distinct_ids never appear raw (use subject_hmac).
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from privacy_requests.models import AuditEntry, PrivacyRequest
from projects.pii import distinct_id_hmac

GENESIS_HASH = "0" * 64


def subject_hmac(*, project_id: int, distinct_id: str) -> str:
    return distinct_id_hmac(project_id=project_id, distinct_id=distinct_id)


def _canonical(entry: AuditEntry, *, tracking_id: str | None) -> str:
    payload = {
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(),
        "actor": entry.actor,
        "organization": entry.organization_id,
        "request": tracking_id,
        "action": entry.action,
        "detail": entry.detail,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _entry_hash(entry: AuditEntry, *, tracking_id: str | None) -> str:
    message = (entry.prev_hash + _canonical(entry, tracking_id=tracking_id)).encode()
    return hmac.new(settings.PRIVACY_AUDIT_KEY.encode(), message, hashlib.sha256).hexdigest()


def audit_append(
    *,
    organization_id: int,
    actor: str,
    action: str,
    request: PrivacyRequest | None = None,
    detail: dict | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    with transaction.atomic():
        list(Organization.objects.select_for_update().filter(id=organization_id).values("id"))
        head = (
            AuditEntry.objects.filter(organization_id=organization_id)
            .order_by("-seq")
            .values("seq", "hash")
            .first()
        )
        entry = AuditEntry(
            organization_id=organization_id,
            seq=(head["seq"] + 1) if head else 1,
            at=at or timezone.now(),
            actor=actor,
            request=request,
            action=action,
            # Round-trip through JSON so the hash covers exactly what the database returns.
            detail=json.loads(json.dumps(detail or {}, sort_keys=True)),
            prev_hash=head["hash"] if head else GENESIS_HASH,
        )
        entry.hash = _entry_hash(entry, tracking_id=request.tracking_id if request else None)
        entry.save()
    return entry


@dataclass(frozen=True)
class ChainBreak:
    organization_id: int
    seq: int | None
    entry_id: int | None
    reason: str


def audit_verify(*, organization_id: int) -> ChainBreak | None:
    """The first broken link of the organization's chain, or None when it is whole."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    entries = (
        AuditEntry.objects.filter(organization_id=organization_id)
        .select_related("request")
        .order_by("seq", "id")
        .iterator(chunk_size=2000)
    )
    for entry in entries:

        def broken(reason: str, entry=entry) -> ChainBreak:
            return ChainBreak(organization_id, entry.seq, entry.id, reason)

        if entry.seq != expected_seq:
            return broken(f"expected entry #{expected_seq} here, found #{entry.seq}")
        if entry.prev_hash != expected_prev:
            return broken("prev_hash does not match the previous entry's hash")
        tracking_id = entry.request.tracking_id if entry.request is not None else None
        if not hmac.compare_digest(entry.hash, _entry_hash(entry, tracking_id=tracking_id)):
            return broken("the entry's content does not match its hash")
        expected_prev = entry.hash
        expected_seq += 1
    return None
