"""Which ids a request reaches (issue 14, item 4 of the brief): the project's rule, then a
person's choices; never a refused or unverified id on its own."""

import pytest

from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.identity_resolution import identity_subject_resolve
from projects.models import IdentityKind, IdentityLinksFrom

pytestmark = pytest.mark.django_db

PUBLIC = LinkProvenance(endpoint="track", authenticated=False)
SECRET = LinkProvenance(endpoint="import", authenticated=True, principal="project-secret")
ALIAS, IDENTIFY, DEVICE, MERGE = (
    IdentityKind.ALIAS,
    IdentityKind.IDENTIFY,
    IdentityKind.DEVICE,
    IdentityKind.MERGE,
)


def apply(project, provenance, *links):
    return identity_links_apply(
        project=project, links=[LinkRequest(*link) for link in links], provenance=provenance
    )


def switch(project, value=IdentityLinksFrom.AUTHENTICATED):
    project.identity_links_from = value
    project.save(update_fields=["identity_links_from"])


def resolve(project, *given, left_out=(), included=()):
    return identity_subject_resolve(
        project=project, distinct_ids=list(given), left_out=left_out, included=included
    )


@pytest.fixture
def attacked(project):
    """The attack of the issue under Mixpanel's rule: the attacker joins their ids to the
    victim's through /track, alongside the victim's own authenticated links."""
    apply(project, SECRET, ("victim-phone", "victim-root", DEVICE))
    apply(
        project,
        PUBLIC,
        ("victim-123", "attacker-1", IDENTIFY),
        ("attacker-2", "victim-root", ALIAS),
    )
    return project


def test_under_any_the_attack_works_as_in_mixpanel(attacked):
    assert resolve(attacked, "attacker-1").linked == ["victim-123"]
    assert resolve(attacked, "attacker-2").linked == ["victim-phone", "victim-root"]


def test_under_authenticated_public_rows_made_before_the_switch_reach_nothing(attacked):
    switch(attacked)

    first = resolve(attacked, "attacker-1")
    second = resolve(attacked, "attacker-2")
    victim = resolve(attacked, "victim-root")

    assert (first.linked, first.unfollowed) == ([], ["victim-123"])
    assert (second.linked, second.unfollowed) == ([], ["victim-phone", "victim-root"])
    assert (victim.linked, victim.unfollowed) == (["victim-phone"], ["attacker-2"])


def test_switching_back_to_any_follows_the_old_public_rows_again(attacked):
    switch(attacked)
    switch(attacked, IdentityLinksFrom.ANY)

    assert resolve(attacked, "attacker-2").linked == ["victim-phone", "victim-root"]


def test_under_authenticated_an_authenticated_link_through_a_public_one_does_not_bridge(
    project,
):
    """Flat rows lose the path: A's row points at R although A was linked to X, and X to R
    only publicly. Resolution follows the recorded links, not the rows."""
    apply(project, PUBLIC, ("x", "r", IDENTIFY))
    apply(project, SECRET, ("a", "x", ALIAS))
    switch(project)

    resolution = resolve(project, "a")

    assert resolution.linked == ["x"]
    assert resolution.unfollowed == ["r"]


def test_authenticated_merges_and_chains_are_followed(project):
    switch(project)
    apply(project, SECRET, ("a1", "u1", ALIAS), ("d1", "u2", DEVICE), ("u2", "u1", MERGE))

    assert resolve(project, "d1").linked == ["a1", "u1", "u2"]


def test_a_left_out_id_is_subtracted_and_recorded_as_left_out(attacked):
    resolution = resolve(attacked, "attacker-2", left_out=["victim-root", "victim-phone", "zz"])

    assert resolution.linked == []
    assert resolution.left_out == ["victim-phone", "victim-root"]
    assert resolution.subject_ids == ["attacker-2"]


def test_a_given_id_is_never_left_out(attacked):
    resolution = resolve(attacked, "attacker-1", "victim-123", left_out=["victim-123"])

    assert resolution.subject_ids == ["attacker-1", "victim-123"]
    assert resolution.left_out == []


def test_an_included_id_adds_itself_never_its_cluster(project):
    switch(project)
    apply(project, SECRET, ("other-device", "stranger", DEVICE))
    apply(project, PUBLIC, ("other-device", "alice", DEVICE))

    assert resolve(project, "alice").subject_ids == ["alice"]
    assert resolve(project, "alice", included=["other-device"]).subject_ids == [
        "alice",
        "other-device",
    ]


def test_resolution_reads_a_bounded_number_of_queries_for_2000_ids(
    project, django_assert_max_num_queries
):
    switch(project)
    apply(project, SECRET, *[(f"a-{n}", f"u-{n}", ALIAS) for n in range(2000)])

    # Two flat reads per 1,000 ids of given and roots, one edge read per 1,000 members.
    with django_assert_max_num_queries(4 + 4):
        resolution = resolve(project, *[f"a-{n}" for n in range(2000)])

    assert len(resolution.linked) == 2000
