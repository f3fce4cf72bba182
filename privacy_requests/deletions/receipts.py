"""The deletion receipt (DESIGN section 5.4): what was deleted, when, on which legal basis, and
a pointer into the audit chain; the subjects only as salted hashes, no property values.

A receipt is JSON in private storage at `<org_id>/<tracking_id>/receipt-<random>.json`, named by
the request's `result_file` and served through the same signed download as exports. Receipts are
kept: no `result_expires_at`.

How to check one: `sha256(receipt_salt ‖ distinct_id)` (UTF-8, hex) of an id is in `subjects`
when the request covered it. `audit.hash` is the hash of the audit entry "deleted" appended in
the same transaction that recorded this receipt: it records the rows removed per table. The
chain is HMAC-linked (each entry's hash covers the previous one), so the entry "succeeded"
that follows, and every later entry of the organization, commit to it; `audit_verify` proves
the chain from its start through that entry.

`audit_chain_head` names the same entry as the organization's chain head: appended under the
organization's lock in the transaction that records the receipt, it is the last entry when the
receipt is written. Whoever holds a receipt can therefore have the operator prove that the chain
was not cut short or rewritten below it (`manage.py audit_verify --org N --expect-head SEQ:HASH`),
which the chain alone cannot prove.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.files.base import ContentFile
from django.core.files.storage import storages

from privacy_requests.audit import AUDIT_HASH, AuditHead
from privacy_requests.deletions.future_collection import future_collection_receipt
from privacy_requests.models import AuditAction, AuditEntry, Compliance, PrivacyRequest

RECEIPT_VERSION = 1
SUBJECT_HASH = "sha256(receipt_salt || distinct_id), both UTF-8, hex digest"
LEGAL_BASIS = {
    Compliance.GDPR: "GDPR Art. 17 (right to erasure)",
    Compliance.CCPA: "CCPA §1798.105 (right to delete)",
}


def subject_hash(*, salt: str, distinct_id: str) -> str:
    return hashlib.sha256((salt + distinct_id).encode()).hexdigest()


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def receipt_build(
    *,
    request: PrivacyRequest,
    given_ids: list[str],
    linked_ids: list[str],
    counts: dict,
    suppressed: bool,
    entry: AuditEntry,
    salt: str,
) -> dict:
    """The receipt's content. `request` must have its organization and project loaded."""

    def hashed(ids) -> list[str]:
        return [subject_hash(salt=salt, distinct_id=distinct_id) for distinct_id in ids]

    return {
        "receipt": "deletion",
        "version": RECEIPT_VERSION,
        "request": {
            "tracking_id": request.tracking_id,
            "kind": request.kind,
            "compliance": request.compliance,
            "channel": request.channel,
            "requested_by": request.requested_by,
            "project": {"id": request.project_id, "name": request.project.name},
            "organization": {"id": request.organization_id, "name": request.organization.name},
        },
        "legal_basis": LEGAL_BASIS[Compliance(request.compliance)],
        "times": {
            "received_at": _utc(request.received_at),
            "started_at": _utc(request.started_at),
            # When the last row was removed: the time of the audit entry below.
            "finished_at": _utc(entry.at),
            "due_at": _utc(request.due_at),
        },
        "rows_removed": {
            table: counts.get(table, 0)
            for table in ("events", "profiles", "identities", "identity_evidence", "export_files")
        },
        "subjects": {
            "hash": SUBJECT_HASH,
            "receipt_salt": salt,
            # The ids the requester gave, in their order; then those found through identity
            # clusters, and the given ids that had no data (in sorted hash order, which says
            # nothing of the ids).
            "given": hashed(given_ids),
            "linked": sorted(hashed(linked_ids)),
            "not_found": sorted(hashed(request.not_found)),
        },
        "suppression": {"enabled": suppressed},
        # Issue 18: what a CCPA deletion by Categories or Sources removed, and what it kept.
        "scope": _scope(request, counts),
        # Issue 17: deleting is not opting out.
        "future_collection": future_collection_receipt(project_id=request.project_id),
        "audit": {
            "organization": request.organization_id,
            "seq": entry.seq,
            "action": entry.action,
            "at": _utc(entry.at),
            "hash": entry.hash,
            "algorithm": AUDIT_HASH,
        },
        "audit_chain_head": AuditHead(request.organization_id, entry.seq, entry.hash).as_json(),
        "approval": _approval(request),
    }


APPROVAL_ACTIONS = (AuditAction.APPROVAL_REQUESTED, AuditAction.APPROVED)


def _approval(request: PrivacyRequest) -> dict | None:
    """Issue 19: who approved a large deletion, when and why, with the audit entries of the
    request for approval and of the approval; None when none was needed."""
    if not request.approval_state:
        return None
    entries = AuditEntry.objects.filter(request=request, action__in=APPROVAL_ACTIONS).order_by(
        "seq"
    )
    return {
        "state": request.approval_state,
        "requested_by": request.requested_by,
        "approved_by": request.approval_decided_by,
        "approved_at": _utc(request.approval_decided_at),
        "reason": request.approval_reason,
        "audit": [
            {"seq": row.seq, "action": row.action, "at": _utc(row.at), "hash": row.hash}
            for row in entries
        ],
    }


@dataclass(frozen=True)
class StoredReceipt:
    name: str
    size: int
    sha256: str
    salt: str


def receipt_salt_generate() -> str:
    return secrets.token_hex(32)


def receipt_store(*, request: PrivacyRequest, receipt: dict) -> StoredReceipt:
    """Writes the receipt to private storage under a random name; returns what the request
    records of it. The caller deletes the file if its transaction does not commit."""
    content = json.dumps(receipt, indent=2, ensure_ascii=False).encode() + b"\n"
    name = f"{request.organization_id}/{request.tracking_id}/receipt-{secrets.token_hex(16)}.json"
    stored_name = storages["private"].save(name, ContentFile(content))
    return StoredReceipt(
        name=stored_name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        salt=receipt["subjects"]["receipt_salt"],
    )


def receipt_read(*, request: PrivacyRequest) -> dict:
    """The stored receipt of a finished deletion, parsed."""
    with storages["private"].open(request.result_file, "rb") as receipt_file:
        return json.loads(receipt_file.read())


def _scope(request: PrivacyRequest, counts: dict) -> dict:
    if request.disclosure == "Data":
        return {"disclosure_type": "Data", "removed": "everything", "kept": "nothing"}
    if request.disclosure == "Categories":
        chosen = list(request.scope)
        return {
            "disclosure_type": "Categories",
            "categories_removed": chosen,
            "properties_removed": {key: counts.get(f"properties:{key}", 0) for key in chosen},
            "events_changed": counts.get("events", 0),
            "profiles_changed": counts.get("profiles", 0),
            "kept": "every property of the other categories; the events, profile, ids and "
            "identity links themselves",
        }
    return {
        "disclosure_type": "Sources",
        "sources_removed": list(request.scope),
        "kept": "the events of every other source; the profile unless engage was chosen; "
        "the ids and identity links",
    }
