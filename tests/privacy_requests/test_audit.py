import threading

import pytest
from django.db import connection, connections

from privacy_requests.audit import GENESIS_HASH, audit_append, audit_verify
from privacy_requests.models import AuditEntry
from tests.factories import OrganizationFactory


@pytest.fixture
def chain(db, organization):
    for n in range(5):
        audit_append(
            organization_id=organization.id,
            actor="web:a@example.com",
            action="note",
            detail={"n": n, "nested": {"b": 1, "a": [1, 2]}},
        )
    return list(AuditEntry.objects.filter(organization=organization).order_by("seq"))


def test_an_untouched_chain_verifies(chain, organization):
    assert [entry.seq for entry in chain] == [1, 2, 3, 4, 5]
    assert chain[0].prev_hash == GENESIS_HASH
    assert all(
        later.prev_hash == earlier.hash for earlier, later in zip(chain, chain[1:], strict=False)
    )
    assert audit_verify(organization_id=organization.id) is None


def test_each_organization_has_its_own_chain(chain, organization):
    other = OrganizationFactory()

    entry = audit_append(organization_id=other.id, actor="system", action="note")

    assert (entry.seq, entry.prev_hash) == (1, GENESIS_HASH)
    assert audit_verify(organization_id=other.id) is None


def test_tampering_with_an_entrys_detail_is_detected(chain, organization):
    AuditEntry.objects.filter(id=chain[2].id).update(detail={"n": 99})

    broken = audit_verify(organization_id=organization.id)

    assert (broken.seq, broken.entry_id) == (3, chain[2].id)
    assert broken.reason == "the entry's content does not match its hash"


def test_tampering_with_the_actor_or_time_is_detected(chain, organization):
    AuditEntry.objects.filter(id=chain[1].id).update(actor="system")

    assert audit_verify(organization_id=organization.id).seq == 2


def test_reordering_entries_is_detected(chain, organization):
    AuditEntry.objects.filter(id=chain[1].id).update(seq=100)
    AuditEntry.objects.filter(id=chain[3].id).update(seq=2)
    AuditEntry.objects.filter(id=chain[1].id).update(seq=4)

    broken = audit_verify(organization_id=organization.id)

    assert broken.seq == 2
    assert broken.reason == "prev_hash does not match the previous entry's hash"


def test_a_rewritten_hash_is_detected(chain, organization):
    AuditEntry.objects.filter(id=chain[4].id).update(hash="f" * 64)

    broken = audit_verify(organization_id=organization.id)

    assert broken.seq == 5
    assert broken.reason == "the entry's content does not match its hash"


def test_a_removed_entry_is_detected(chain, organization):
    AuditEntry.objects.filter(id=chain[1].id).delete()

    broken = audit_verify(organization_id=organization.id)

    assert broken.seq == 3
    assert broken.reason == "expected entry #2 here, found #3"


def test_a_recomputed_chain_without_the_key_cannot_pass(chain, organization, settings):
    settings.PRIVACY_AUDIT_KEY = "some-other-key"

    assert audit_verify(organization_id=organization.id).seq == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_never_fork_the_chain():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite serializes writers anyway")
    organization = OrganizationFactory()
    errors = []

    def append_many(worker):
        try:
            for n in range(10):
                audit_append(
                    organization_id=organization.id,
                    actor=f"worker{worker}",
                    action="note",
                    detail={"n": n},
                )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    seqs = list(
        AuditEntry.objects.filter(organization=organization)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert seqs == list(range(1, 41))
    assert audit_verify(organization_id=organization.id) is None
