"""The deletion receipt: exact contents, salted hashes, no raw ids, no property values."""

import hashlib
import json
import re
from http import HTTPStatus

import pytest
from django.conf import settings
from django.core.files.storage import storages

from privacy_requests.audit import audit_verify
from privacy_requests.deletions.receipts import receipt_read
from privacy_requests.exports.downloads import export_download_url
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from projects.identity import LinkRequest, identity_links_apply
from projects.models import IdentityKind
from tests.privacy_requests.deletion_support import events_add, profile_add

pytestmark = pytest.mark.django_db

SECRET_VALUE = "s3cret-property-value-9f2c"


def reload(request):
    return PrivacyRequest.objects.get(id=request.id)


@pytest.fixture
def deleted(submit, project):
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alias.of.alice@end-user.test", "alice@end-user.test", IdentityKind.ALIAS),
        ],
    )
    events_add(project, "alice@end-user.test", 3, properties={"email": SECRET_VALUE})
    events_add(project, "alias.of.alice@end-user.test", 2, properties={"phone": SECRET_VALUE})
    profile_add(project, "alice@end-user.test", {"$email": SECRET_VALUE})
    events_add(project, "bob@example.com", 1)
    return reload(
        submit(
            kind="deletion",
            compliance="CCPA",
            distinct_ids=["alias.of.alice@end-user.test", "ghost@end-user.test"],
            run=True,
        )
    )


def sha(salt, distinct_id):
    return hashlib.sha256((salt + distinct_id).encode()).hexdigest()


def test_a_finished_deletion_has_a_receipt_in_private_storage(deleted, project):
    assert deleted.status == Status.SUCCESS
    assert re.fullmatch(
        rf"{project.organization_id}/{deleted.tracking_id}/receipt-[0-9a-f]{{32}}\.json",
        deleted.result_file,
    )
    content = storages["private"].open(deleted.result_file, "rb").read()
    assert deleted.result_size == len(content)
    assert deleted.result_sha256 == hashlib.sha256(content).hexdigest()
    assert deleted.result_expires_at is None  # receipts are kept
    assert re.fullmatch(r"[0-9a-f]{64}", deleted.receipt_salt)


def test_the_receipt_says_what_was_deleted_when_and_why_with_hashed_subjects(deleted, project):
    receipt = receipt_read(request=deleted)
    salt = deleted.receipt_salt
    entry = AuditEntry.objects.get(request=deleted, action="deleted")

    assert receipt == {
        "receipt": "deletion",
        "version": 1,
        "request": {
            "tracking_id": deleted.tracking_id,
            "kind": "deletion",
            "compliance": "CCPA",
            "channel": "web",
            "requested_by": deleted.requested_by,
            "project": {"id": project.id, "name": project.name},
            "organization": {"id": project.organization_id, "name": project.organization.name},
        },
        "legal_basis": "CCPA §1798.105 (right to delete)",
        "times": {
            "received_at": deleted.received_at.isoformat(),
            "started_at": deleted.started_at.isoformat(),
            "finished_at": entry.at.isoformat(),
            "due_at": deleted.due_at.isoformat(),
        },
        "rows_removed": {
            "events": 5,
            "profiles": 1,
            "identities": 1,
            "identity_evidence": 1,
            "export_files": 0,
        },
        "subjects": {
            "hash": "sha256(receipt_salt || distinct_id), both UTF-8, hex digest",
            "receipt_salt": salt,
            "given": [sha(salt, "alias.of.alice@end-user.test"), sha(salt, "ghost@end-user.test")],
            "linked": [sha(salt, "alice@end-user.test")],
            "not_found": [sha(salt, "ghost@end-user.test")],
        },
        "suppression": {"enabled": False},
        "scope": {"disclosure_type": "Data", "removed": "everything", "kept": "nothing"},
        # Issue 17: deleting is not opting out; where suppression is set, and the SDKs' opt-out.
        "future_collection": {
            "note": (
                "Deleting data does not stop future collection: events the product sends for "
                "these ids afterwards are stored again, unless the project's suppression of "
                "deleted ids is on."
            ),
            "suppression_setting": f"{settings.SITE_URL}/projects/{project.id}/settings/"
            "#suppression",
            "sdk_opt_out": [
                "To stop collection at the source, the product calls its SDK's opt-out for that "
                "person (mixpanel.opt_out_tracking() in JavaScript, optOutTracking() on iOS and "
                "Android), and the SDK sends nothing more from that device.",
                "Server libraries (Python, Node.js, Ruby…) have no opt-out: the product's own "
                "code must stop sending that person's events.",
            ],
        },
        "audit": {
            "organization": project.organization_id,
            "seq": entry.seq,
            "action": "deleted",
            "at": entry.at.isoformat(),
            "hash": entry.hash,
            "algorithm": "HMAC-SHA256(PRIVACY_AUDIT_KEY, prev_hash || canonical JSON of the entry)",
        },
        # The entry above was the organization's last when the receipt was written.
        "audit_chain_head": {
            "organization": project.organization_id,
            "seq": entry.seq,
            "hash": entry.hash,
            "algorithm": "HMAC-SHA256(PRIVACY_AUDIT_KEY, prev_hash || canonical JSON of the entry)",
            "meaning": (
                "The last entry of the organization's audit chain when this file was written. "
                "The chain only grows: as long as it exists it must hold this entry with exactly "
                "this hash. If it does not, entries were deleted from it or rewritten. The "
                "operator checks it with the command in 'verify'."
            ),
            "verify": (
                f"python manage.py audit_verify --org {project.organization_id} "
                f"--expect-head {entry.seq}:{entry.hash}"
            ),
        },
        # Issue 19: no second approval was needed.
        "approval": None,
    }
    assert deleted.started_at <= entry.at <= deleted.finished_at
    assert entry.detail == {"counts": deleted.counts, "subjects": 3, "not_found": 1}


def test_the_receipts_audit_hash_is_in_the_verified_chain_before_the_success_entry(deleted):
    receipt = receipt_read(request=deleted)
    succeeded = AuditEntry.objects.get(request=deleted, action="succeeded")

    assert audit_verify(organization_id=deleted.organization_id) is None
    assert succeeded.prev_hash == receipt["audit"]["hash"]
    assert succeeded.seq == receipt["audit"]["seq"] + 1


def test_the_receipt_holds_no_raw_id_and_no_property_value(deleted):
    text = storages["private"].open(deleted.result_file, "rb").read().decode()

    for raw in (
        "alice@end-user.test",
        "alias.of.alice",
        "ghost@end-user.test",
        "end-user.test",
        SECRET_VALUE,
        "bob",
    ):
        assert raw not in text
    assert "properties" not in text


def test_gdpr_receipts_name_article_17_and_each_request_has_its_own_salt(submit, project):
    events_add(project, "carol", 1)
    events_add(project, "dave", 1)

    first = reload(submit(kind="deletion", distinct_ids=["carol"], run=True))
    second = reload(submit(kind="deletion", distinct_ids=["dave"], run=True))

    assert receipt_read(request=first)["legal_basis"] == "GDPR Art. 17 (right to erasure)"
    assert first.receipt_salt != second.receipt_salt
    assert json.loads(storages["private"].open(first.result_file).read())["subjects"]["given"] == [
        sha(first.receipt_salt, "carol")
    ]


def test_the_receipt_downloads_with_a_plain_get_on_its_signed_link(deleted, client):
    response = client.get(export_download_url(deleted))

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (f'attachment; filename="{deleted.tracking_id}.json"')
    assert response["Cache-Control"] == "no-store"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert json.loads(body) == receipt_read(request=deleted)
    assert AuditEntry.objects.filter(request=deleted, action="downloaded").count() == 1
