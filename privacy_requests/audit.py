"""The audit chain: one HMAC chain per organization (DESIGN section 3).

hash = HMAC(PRIVACY_AUDIT_KEY, prev_hash ‖ canonical JSON of the entry). Appends lock the
organization's row, so concurrent appends queue up instead of forking the chain; the unique
(organization, seq) constraint backs that up. Actors are text, so no deleted user can take an
entry with it; distinct_ids never appear raw (use subject_hmac).

The links catch an entry changed, removed or reordered in the middle, but not entries removed
from the end: what is left is still a whole chain. So the head is also anchored outside the
table: receipts, export manifests and the daily checkpoints record `AuditHead`s, and verifying
against them as `AuditAnchor`s proves the chain still holds each one, unchanged.
"""

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import Organization
from privacy_requests.models import AuditEntry, PrivacyRequest
from projects.pii import distinct_id_hmac

GENESIS_HASH = "0" * 64
AUDIT_HASH = "HMAC-SHA256(PRIVACY_AUDIT_KEY, prev_hash || canonical JSON of the entry)"
CHAIN_HEAD_MEANING = (
    "The last entry of the organization's audit chain when this file was written. The chain "
    "only grows: as long as it exists it must hold this entry with exactly this hash. If it "
    "does not, entries were deleted from it or rewritten. The operator checks it with the "
    "command in 'verify'."
)


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
        # Serializes the chain's appends. FOR NO KEY UPDATE conflicts with itself but not with
        # the key-share lock that the commit of any row pointing at the organization takes (a
        # request, an entry): FOR UPDATE made every append wait for those commits.
        list(
            Organization.objects.select_for_update(no_key=True)
            .filter(id=organization_id)
            .values("id")
        )
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
class AuditHead:
    """One entry of an organization's chain by place and hash: its head at some moment."""

    organization_id: int
    seq: int
    hash: str

    @property
    def expect_head(self) -> str:
        """The value of `audit_verify --expect-head`."""
        return f"{self.seq}:{self.hash}"

    def as_json(self) -> dict:
        """The head as a receipt or an export manifest records it, saying what it is for."""
        return {
            "organization": self.organization_id,
            "seq": self.seq,
            "hash": self.hash,
            "algorithm": AUDIT_HASH,
            "meaning": CHAIN_HEAD_MEANING,
            "verify": (
                f"python manage.py audit_verify --org {self.organization_id} "
                f"--expect-head {self.expect_head}"
            ),
        }


def audit_head(*, organization_id: int) -> AuditHead | None:
    """The organization's head now (committed entries only); None while it has no entry. Read
    inside the transaction of an `audit_append`, it is the entry that call appended."""
    head = (
        AuditEntry.objects.filter(organization_id=organization_id)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    return AuditHead(organization_id, head[0], head[1]) if head else None


def audit_heads() -> list[AuditHead]:
    """Every organization's head now, in organization order (organizations without an entry
    have none)."""
    last_seq = (
        AuditEntry.objects.filter(organization_id=OuterRef("organization_id"))
        .order_by("-seq")
        .values("seq")[:1]
    )
    rows = (
        AuditEntry.objects.filter(seq=Subquery(last_seq))
        .order_by("organization_id")
        .values_list("organization_id", "seq", "hash")
    )
    return [AuditHead(organization_id, seq, hash_) for organization_id, seq, hash_ in rows]


@dataclass(frozen=True)
class AuditAnchor:
    """A head recorded outside the table, which the chain must still hold unchanged. `source`
    says where it was recorded, for the report ("--expect-head", "checkpoint <name>")."""

    seq: int
    hash: str
    source: str


@dataclass(frozen=True)
class ChainBreak:
    organization_id: int
    seq: int | None
    entry_id: int | None
    reason: str


@dataclass(frozen=True)
class ChainCheck:
    """What verifying one chain found: its first break (None when whole), and how far it got."""

    organization_id: int
    chain_break: ChainBreak | None
    entries: int
    head: AuditHead | None


def audit_verify(*, organization_id: int, anchors: Sequence[AuditAnchor] = ()) -> ChainBreak | None:
    """The first broken link of the organization's chain, or None when it is whole.

    Without anchors this proves only that the entries present link up from the first one:
    entries removed from the end leave a whole chain. Each anchor must also be in the chain,
    with its hash: a chain that ends before an anchor's entry was cut short.
    """
    return audit_chain_check(organization_id=organization_id, anchors=anchors).chain_break


def audit_chain_check(*, organization_id: int, anchors: Sequence[AuditAnchor] = ()) -> ChainCheck:
    """`audit_verify` with what it saw: the entries it verified and the last of them."""
    anchored: dict[int, list[AuditAnchor]] = {}
    for anchor in anchors:
        anchored.setdefault(anchor.seq, []).append(anchor)
    expected_prev = GENESIS_HASH
    expected_seq = 1
    entries = (
        AuditEntry.objects.filter(organization_id=organization_id)
        .select_related("request")
        .order_by("seq", "id")
        .iterator(chunk_size=2000)
    )

    def checked(chain_break: ChainBreak | None) -> ChainCheck:
        last = expected_seq - 1
        head = AuditHead(organization_id, last, expected_prev) if last else None
        return ChainCheck(organization_id, chain_break, last, head)

    for entry in entries:

        def broken(reason: str, entry=entry) -> ChainCheck:
            return checked(ChainBreak(organization_id, entry.seq, entry.id, reason))

        if entry.seq != expected_seq:
            return broken(f"expected entry #{expected_seq} here, found #{entry.seq}")
        if entry.prev_hash != expected_prev:
            return broken("prev_hash does not match the previous entry's hash")
        tracking_id = entry.request.tracking_id if entry.request is not None else None
        if not hmac.compare_digest(entry.hash, _entry_hash(entry, tracking_id=tracking_id)):
            return broken("the entry's content does not match its hash")
        for anchor in anchored.get(entry.seq, ()):
            if not hmac.compare_digest(entry.hash, anchor.hash):
                return broken(
                    f"entry #{entry.seq} is not the one {anchor.source} recorded: the chain "
                    "was rewritten from there on"
                )
        expected_prev = entry.hash
        expected_seq += 1
    beyond = [anchor for anchor in anchors if anchor.seq >= expected_seq]
    if beyond:
        anchor = max(beyond, key=lambda anchor: anchor.seq)
        ends = f"ends at entry #{expected_seq - 1}" if expected_seq > 1 else "has no entries"
        return checked(
            ChainBreak(
                organization_id,
                anchor.seq,
                None,
                f"the chain {ends}, but {anchor.source} recorded entry #{anchor.seq}: entries "
                "were deleted from its end",
            )
        )
    return checked(None)
