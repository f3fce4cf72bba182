"""Removing a deletion's subjects from their clusters when the subject set is not whole
clusters (ids left out, public members not followed): no deleted id survives as a root, and
ids that stay keep only the links they had among themselves."""

import pytest

from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.models import IdentityKind, IdentityLink, IdentityLinkRecord
from projects.store import identity_of_ids_delete
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

PUBLIC = LinkProvenance(endpoint="track", authenticated=False)
ALIAS, IDENTIFY, MERGE = IdentityKind.ALIAS, IdentityKind.IDENTIFY, IdentityKind.MERGE


def apply(project, *links):
    identity_links_apply(
        project=project, links=[LinkRequest(*link) for link in links], provenance=PUBLIC
    )


def rows(project) -> set[tuple[str, str]]:
    return set(
        IdentityLink.objects.filter(project=project).values_list("distinct_id", "canonical_id")
    )


def named(project) -> set[str]:
    return {
        distinct_id
        for pair in IdentityLinkRecord.objects.filter(project=project).values_list(
            "distinct_id", "canonical_id"
        )
        for distinct_id in pair
    }


def test_deleting_an_attackers_root_frees_the_victims_ids_it_had_gathered(project):
    """attacker-1 pulled two strangers' ids into its cluster: deleting attacker-1 alone
    must neither keep its id as their root nor leave the two strangers linked together."""
    apply(
        project,
        ("victim-a", "attacker-1", IDENTIFY),
        ("victim-b", "attacker-1", IDENTIFY),
    )

    removed = identity_of_ids_delete(project_id=project.id, distinct_ids=["attacker-1"])

    assert rows(project) == set()
    assert named(project) == set()
    assert (removed.links, removed.records) == (2, 2)


def test_ids_that_stay_keep_the_links_they_had_among_themselves_under_a_new_root(project):
    apply(
        project,
        ("a", "root", ALIAS),
        ("b", "a", ALIAS),  # b was linked to a (its row points at the root)
        ("c", "root", ALIAS),
    )
    assert rows(project) == {("a", "root"), ("b", "root"), ("c", "root")}

    removed = identity_of_ids_delete(project_id=project.id, distinct_ids=["root"])

    # a and b stay together under a (the smaller id); c was linked only to root.
    assert rows(project) == {("b", "a")}
    assert named(project) == {"a", "b"}
    assert removed.links == 2  # c's row, and a's row (a is the new root)
    link = IdentityLink.objects.get(project=project, distinct_id="b")
    assert link.record is not None  # its own record (b → a) names no deleted id


def test_a_merge_edge_between_two_ids_that_stay_keeps_them_together(project):
    apply(project, ("x1", "x", ALIAS), ("y", "x", MERGE), ("y1", "y", ALIAS))

    identity_of_ids_delete(project_id=project.id, distinct_ids=["x"])

    # y1 → y stays (its record); y and x1 were linked only through x.
    assert rows(project) == {("y1", "y")}


def test_removing_a_chunk_touches_no_other_project_or_cluster(project, organization):
    other = ProjectFactory(organization=organization)
    apply(project, ("a", "root", ALIAS), ("p", "q", ALIAS))
    apply(other, ("a", "root", ALIAS))
    before_other = rows(other)

    identity_of_ids_delete(project_id=project.id, distinct_ids=["root", "a"])

    assert rows(project) == {("p", "q")}
    assert named(project) == {"p", "q"}
    assert rows(other) == before_other
    assert named(other) == {"a", "root"}


def test_removing_nothing_asks_nothing(project, django_assert_num_queries):
    with django_assert_num_queries(0):
        removed = identity_of_ids_delete(project_id=project.id, distinct_ids=[])
    assert (removed.links, removed.records) == (0, 0)
