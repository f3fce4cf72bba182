"""A deletion's link records and the links that point at them (migration 0010): on PostgreSQL a
link's `record` keeps no database constraint, so nothing but the engine keeps a link from
pointing at a record that is gone; SQLite keeps the constraint."""

import pytest

from projects.identity import LinkRequest, identity_links_apply
from projects.identity_removal import identity_of_ids_remove
from projects.models import IdentityKind, IdentityLink, IdentityLinkRecord

pytestmark = pytest.mark.django_db


def test_links_that_stay_lose_the_records_a_deletion_removes(project):
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("$device:phone", "alice", IdentityKind.DEVICE),
            LinkRequest("$device:laptop", "$device:phone", IdentityKind.ALIAS),
            LinkRequest("bob", "carol", IdentityKind.ALIAS),
        ],
    )
    naming_alice = set(
        IdentityLinkRecord.objects.filter(canonical_id="alice").values_list("id", flat=True)
    )
    pointing = IdentityLink.objects.filter(record_id__in=naming_alice)
    assert set(pointing.values_list("distinct_id", flat=True)) == {"$device:phone"}
    bobs = IdentityLink.objects.get(project=project, distinct_id="bob").record_id

    # Alice alone: her devices stay together (the laptop's record joins them), the record that
    # named alice goes, and bob's link keeps its record.
    removal = identity_of_ids_remove(project_id=project.pk, distinct_ids=["alice"])

    assert removal.records == 1
    assert not IdentityLinkRecord.objects.filter(id__in=naming_alice).exists()
    # The phone's row stays (under the laptop, the new root, which has no row of its own) and
    # no longer points at the removed record.
    assert sorted(
        IdentityLink.objects.filter(project=project).values_list(
            "distinct_id", "canonical_id", "record_id"
        )
    ) == [("$device:phone", "$device:laptop", None), ("bob", "carol", bobs)]
    dangling = IdentityLink.objects.filter(record__isnull=False).exclude(
        record_id__in=IdentityLinkRecord.objects.values("id")
    )
    assert list(dangling.values_list("distinct_id", flat=True)) == []
