"""The review of a request before it runs (issue 14, items 3 and 4): given ids with their data,
linked ids with how they were linked, refused and unverified ids marked, abuse flagged."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from projects import identity
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.identity_flags import ACTIVE_IDS_JOINED_PUBLICLY, CLUSTER_AT_CAP, PUBLIC_LINK_BURST
from projects.identity_review import identity_review
from projects.models import (
    Event,
    IdentityKind,
    IdentityLinkRecord,
    IdentityLinksFrom,
    Profile,
)

pytestmark = pytest.mark.django_db

PUBLIC = LinkProvenance(endpoint="track", authenticated=False)
SECRET = LinkProvenance(endpoint="import", authenticated=True, principal="project-secret")
LONG_AGO = datetime(2025, 6, 1, tzinfo=UTC)


def apply(project, provenance, *links):
    return identity_links_apply(
        project=project, links=[LinkRequest(*link) for link in links], provenance=provenance
    )


def events(project, distinct_id, count, *, at=LONG_AGO):
    Event.objects.bulk_create(
        Event(
            project=project,
            distinct_id=distinct_id,
            name="Viewed",
            time=at + timedelta(minutes=n),
            insert_id=f"{distinct_id}-{n}",
            properties={},
            ingested_at=timezone.now(),
        )
        for n in range(count)
    )


def switch(project):
    project.identity_links_from = IdentityLinksFrom.AUTHENTICATED
    project.save(update_fields=["identity_links_from"])


@pytest.fixture
def attacked(project):
    """A victim with purchases and a profile, an attacker with a little activity of their own,
    and the public $identify of the issue joining the victim's anonymous id to the attacker."""
    events(project, "victim-123", 3)
    events(project, "attacker-1", 1)
    Profile.objects.create(
        project=project, distinct_id="victim-123", properties={}, updated_at=timezone.now()
    )
    apply(project, PUBLIC, ("victim-123", "attacker-1", IdentityKind.IDENTIFY))
    return project


def test_under_any_the_linked_victim_is_listed_with_how_and_its_data_and_flagged(attacked):
    review = identity_review(project=attacked, distinct_ids=["attacker-1", "ghost"])

    assert [(r.distinct_id, r.events, r.profile) for r in review.given] == [
        ("attacker-1", 1, False),
        ("ghost", 0, False),
    ]
    assert review.no_data == ["ghost"]
    (victim,) = review.linked
    assert (victim.distinct_id, victim.role, victim.events, victim.profile) == (
        "victim-123",
        "linked",
        3,
        True,
    )
    assert victim.how is not None
    assert (victim.how.kind, victim.how.authenticated, victim.how.endpoint) == (
        "identify",
        False,
        "track",
    )
    assert victim.how.other_id == "attacker-1"
    assert victim.flags == (ACTIVE_IDS_JOINED_PUBLICLY,)
    assert [flag.code for flag in review.flags] == [ACTIVE_IDS_JOINED_PUBLICLY]
    assert review.flags[0].distinct_ids == ("victim-123", "attacker-1")
    assert review.subject_ids == ["attacker-1", "ghost", "victim-123"]
    assert review.candidates == []


def test_a_public_link_to_an_id_without_earlier_activity_is_not_flagged(project):
    events(project, "user-1", 2)
    apply(project, PUBLIC, ("fresh-anon", "user-1", IdentityKind.IDENTIFY))
    events(project, "fresh-anon", 1, at=timezone.now() + timedelta(minutes=1))

    review = identity_review(project=project, distinct_ids=["user-1"])

    assert review.flags == []


def test_under_authenticated_the_victim_is_a_marked_candidate_and_not_reached(project):
    switch(project)
    events(project, "victim-123", 3)
    events(project, "attacker-1", 1)
    apply(project, PUBLIC, ("victim-123", "attacker-1", IdentityKind.IDENTIFY))

    review = identity_review(project=project, distinct_ids=["attacker-1"])

    assert review.linked == []
    (victim,) = review.candidates
    assert (victim.distinct_id, victim.role, victim.events, victim.reached) == (
        "victim-123",
        "unverified",
        3,
        False,
    )
    assert [(how.outcome, how.authenticated, how.other_id) for how in victim.evidence] == [
        ("unverified", False, "attacker-1")
    ]
    assert review.subject_ids == ["attacker-1"]
    included = identity_review(
        project=project, distinct_ids=["attacker-1"], included=["victim-123"]
    )
    assert included.candidates[0].included is True
    assert included.candidates[0].reached is True
    assert included.subject_ids == ["attacker-1", "victim-123"]


def test_a_left_out_linked_id_stays_listed_marked_and_unreached(attacked):
    review = identity_review(project=attacked, distinct_ids=["attacker-1"], left_out=["victim-123"])

    assert [(r.distinct_id, r.left_out, r.reached) for r in review.linked] == [
        ("victim-123", True, False)
    ]
    assert review.subject_ids == ["attacker-1"]


def test_a_burst_of_public_links_into_one_cluster_is_flagged(project):
    apply(project, PUBLIC, *[(f"fake-{n}", "victim", IdentityKind.ALIAS) for n in range(6)])

    review = identity_review(project=project, distinct_ids=["victim"])

    burst = [flag for flag in review.flags if flag.code == PUBLIC_LINK_BURST]
    assert len(burst) == 1
    assert burst[0].root == "victim"
    assert burst[0].message == "6 public links into this cluster within 10 minutes."
    assert review.clusters[0].flags == (PUBLIC_LINK_BURST,)


def test_a_handful_of_public_links_spread_over_time_is_no_burst(project):
    apply(project, PUBLIC, *[(f"id-{n}", "user", IdentityKind.ALIAS) for n in range(6)])
    for n, record in enumerate(IdentityLinkRecord.objects.order_by("id")):
        IdentityLinkRecord.objects.filter(pk=record.pk).update(
            first_seen_at=record.first_seen_at - timedelta(minutes=11 * n)
        )

    assert identity_review(project=project, distinct_ids=["user"]).flags == []


def test_a_full_cluster_and_the_device_its_cap_refused_are_shown(project, monkeypatch):
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 5)
    events(project, "$device:new-laptop", 2)
    apply(project, PUBLIC, *[(f"fake-{n}", "victim", IdentityKind.ALIAS) for n in range(8)])
    apply(project, SECRET, ("$device:new-laptop", "victim", IdentityKind.DEVICE))

    review = identity_review(project=project, distinct_ids=["victim"])

    (cluster,) = review.clusters
    assert (cluster.root, cluster.members, cluster.counted, cluster.at_cap) == (
        "victim",
        5,
        5,
        True,
    )
    refused = {c.distinct_id: c for c in review.candidates if c.role == "refused"}
    # The device, and the public aliases the cap refused: listed, never reached.
    assert sorted(refused) == ["$device:new-laptop", "fake-4", "fake-5", "fake-6", "fake-7"]
    device = refused["$device:new-laptop"]
    assert (device.events, device.reached) == (2, False)
    assert [(how.reason, how.authenticated) for how in device.evidence] == [("cluster_full", True)]
    (cap,) = [flag for flag in review.flags if flag.code == CLUSTER_AT_CAP]
    assert cap.distinct_ids == ("$device:new-laptop", "fake-4", "fake-5", "fake-6", "fake-7")
    assert CLUSTER_AT_CAP in device.flags


def test_an_id_only_named_by_a_link_record_has_data(project):
    switch(project)
    apply(project, PUBLIC, ("stranger-alias", "named-only", IdentityKind.ALIAS))

    review = identity_review(project=project, distinct_ids=["named-only", "nothing"])

    assert review.no_data == ["nothing"]


@pytest.mark.parametrize(("given", "queries"), [(10, 6), (2000, 28)])
def test_the_review_reads_a_few_queries_per_1000_ids_never_one_per_id(
    project, django_assert_max_num_queries, given, queries
):
    apply(project, SECRET, *[(f"a-{n}", f"u-{n}", IdentityKind.ALIAS) for n in range(2000)])
    apply(project, PUBLIC, *[(f"p-{n}", f"u-{n}", IdentityKind.IDENTIFY) for n in range(2000)])

    # Flat clusters (2 per 1,000 given ids and roots), then per 1,000 of the clusters' ids:
    # their rows, the records that name them, their events and their profiles. 2,000 given
    # ids have 6,000 ids in their clusters.
    with django_assert_max_num_queries(queries):
        review = identity_review(project=project, distinct_ids=[f"u-{n}" for n in range(given)])

    assert len(review.linked) == 2 * given
