import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import Count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects import identity
from projects.identity import LinkOutcome, LinkRequest, identity_links_apply
from projects.models import IdentityKind, IdentityLink, Project
from projects.selectors import identity_clusters_resolve, identity_subject_set
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

ALIAS, MERGE, IDENTIFY, DEVICE = (
    IdentityKind.ALIAS,
    IdentityKind.MERGE,
    IdentityKind.IDENTIFY,
    IdentityKind.DEVICE,
)
ALIAS_REFUSED = "the alias already maps to another id; an alias maps to one id only"
IDENTIFY_REFUSED = "the $anon_id is already identified as another user"
DEVICE_REFUSED = (
    "the device is already linked to another user; a device links to the first user id it is "
    "seen with"
)
CLUSTER_FULL = "the identity cluster already holds 500 ids, the limit"


def link(distinct_id: str, canonical_id: str, kind: IdentityKind = ALIAS) -> LinkRequest:
    return LinkRequest(distinct_id=distinct_id, canonical_id=canonical_id, kind=kind)


def rows(project: Project) -> set[tuple[str, str, str]]:
    return set(
        IdentityLink.objects.filter(project=project).values_list(
            "distinct_id", "canonical_id", "kind"
        )
    )


def cluster_of(project: Project, distinct_id: str) -> list[str]:
    return identity_clusters_resolve(project_id=project.pk, distinct_ids=[distinct_id])[distinct_id]


def cluster_with(project: Project, root: str, size: int) -> list[str]:
    """A cluster of `size` ids: `root` and size - 1 aliases of it, applied in one call."""
    aliases = [f"{root}-alias-{n:03d}" for n in range(size - 1)]
    outcome = identity_links_apply(project=project, links=[link(a, root) for a in aliases])
    assert outcome == LinkOutcome(applied=size - 1)
    return aliases


def assert_flat(project: Project) -> None:
    members = IdentityLink.objects.filter(project=project)
    assert not members.filter(canonical_id__in=members.values("distinct_id")).exists()


# --- joining: alias, identify, device -----------------------------------------------------


def test_chains_of_aliases_identifies_and_merges_resolve_to_one_flat_cluster(project):
    outcome = identity_links_apply(
        project=project,
        links=[
            link("anon-1", "user-a", IDENTIFY),
            link("alias-a", "anon-1"),
            link("anon-2", "user-b", IDENTIFY),
            link("$device:d-2", "user-b", DEVICE),
        ],
    )
    assert outcome == LinkOutcome(applied=4)

    # $merge of ["user-a", "user-b"]: user-b's cluster moves under user-a.
    outcome = identity_links_apply(project=project, links=[link("anon-2", "alias-a", MERGE)])
    assert outcome == LinkOutcome(applied=1)
    outcome = identity_links_apply(
        project=project, links=[link("alias-b", "anon-2"), link("alias-c", "$device:d-2")]
    )
    assert outcome == LinkOutcome(applied=2)

    assert rows(project) == {
        ("anon-1", "user-a", "identify"),
        ("alias-a", "user-a", "alias"),
        ("anon-2", "user-a", "identify"),
        ("$device:d-2", "user-a", "device"),
        ("user-b", "user-a", "merge"),
        ("alias-b", "user-a", "alias"),
        ("alias-c", "user-a", "alias"),
    }
    everyone = sorted(
        ["user-a", "anon-1", "alias-a", "user-b", "anon-2", "$device:d-2", "alias-b", "alias-c"]
    )
    assert identity_clusters_resolve(project_id=project.pk, distinct_ids=everyone) == {
        distinct_id: everyone for distinct_id in everyone
    }
    assert_flat(project)


def test_links_of_one_call_apply_in_input_order_and_see_earlier_ones(project):
    outcome = identity_links_apply(
        project=project,
        links=[
            link("anon-1", "user-a", IDENTIFY),
            link("alias-a", "anon-1"),
            link("user-b", "anon-1", MERGE),
            link("alias-b", "user-b"),
            link("alias-a", "user-c"),
        ],
    )

    assert outcome == LinkOutcome(applied=4, refused=[(4, ALIAS_REFUSED)])
    assert rows(project) == {
        ("anon-1", "user-a", "identify"),
        ("alias-a", "user-a", "alias"),
        ("user-b", "user-a", "merge"),
        ("alias-b", "user-a", "alias"),
    }


def test_a_shared_device_does_not_join_two_users(project):
    identity_links_apply(
        project=project,
        links=[link("$device:shared", "user-a", DEVICE), link("anon-b", "user-b", IDENTIFY)],
    )
    before = rows(project)

    outcome = identity_links_apply(
        project=project, links=[link("$device:shared", "user-b", DEVICE)]
    )

    assert outcome == LinkOutcome(refused=[(0, DEVICE_REFUSED)])
    assert rows(project) == before
    assert cluster_of(project, "user-a") == ["$device:shared", "user-a"]
    assert cluster_of(project, "user-b") == ["anon-b", "user-b"]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [(ALIAS, ALIAS_REFUSED), (IDENTIFY, IDENTIFY_REFUSED), (DEVICE, DEVICE_REFUSED)],
)
def test_an_id_already_in_a_cluster_does_not_join_another(project, kind, reason):
    identity_links_apply(project=project, links=[link("alias", "user-a", kind)])

    outcome = identity_links_apply(
        project=project, links=[link("alias", "user-b", kind), link("alias", "user-a", kind)]
    )

    assert outcome == LinkOutcome(unchanged=1, refused=[(0, reason)])
    assert rows(project) == {("alias", "user-a", kind.value)}
    assert cluster_of(project, "user-b") == ["user-b"]


def test_the_root_of_a_cluster_does_not_join_another(project):
    identity_links_apply(project=project, links=[link("alias-a", "user-a")])

    outcome = identity_links_apply(project=project, links=[link("user-a", "user-b")])

    assert outcome == LinkOutcome(refused=[(0, ALIAS_REFUSED)])
    assert rows(project) == {("alias-a", "user-a", "alias")}


def test_an_alias_of_an_alias_joins_the_root_directly(project):
    identity_links_apply(project=project, links=[link("alias-1", "user")])

    outcome = identity_links_apply(project=project, links=[link("alias-2", "alias-1")])

    assert outcome == LinkOutcome(applied=1)
    assert rows(project) == {("alias-1", "user", "alias"), ("alias-2", "user", "alias")}


@pytest.mark.parametrize("kind", list(IdentityKind))
def test_a_link_of_an_id_to_itself_is_unchanged(project, kind):
    outcome = identity_links_apply(project=project, links=[link("user", "user", kind)])

    assert outcome == LinkOutcome(unchanged=1)
    assert rows(project) == set()


def test_cycles_terminate_as_unchanged(project):
    outcome = identity_links_apply(
        project=project,
        links=[
            link("a", "b"),
            link("b", "a"),
            link("a", "b", MERGE),
            link("b", "a", MERGE),
            link("a", "b", MERGE),
        ],
    )
    assert outcome == LinkOutcome(applied=1, unchanged=4)

    identity_links_apply(project=project, links=[link("c", "a", IDENTIFY)])
    outcome = identity_links_apply(
        project=project, links=[link("c", "b", MERGE), link("b", "c", MERGE)]
    )

    assert outcome == LinkOutcome(unchanged=2)
    assert rows(project) == {("a", "b", "alias"), ("c", "b", "identify")}


def test_repeating_a_batch_changes_nothing(project):
    links = [link("anon", "user", IDENTIFY), link("alias", "anon"), link("other", "user", MERGE)]
    identity_links_apply(project=project, links=links)
    before = rows(project)

    outcome = identity_links_apply(project=project, links=links)

    assert outcome == LinkOutcome(unchanged=3)
    assert rows(project) == before


# --- merging ----------------------------------------------------------------------------------


def test_a_merge_moves_the_whole_second_cluster_under_the_first_root(project):
    x_aliases = cluster_with(project, "x", 4)
    y_aliases = cluster_with(project, "y", 3)

    outcome = identity_links_apply(project=project, links=[link(y_aliases[1], x_aliases[0], MERGE)])

    assert outcome == LinkOutcome(applied=1)
    assert rows(project) == (
        {(a, "x", "alias") for a in x_aliases + y_aliases} | {("y", "x", "merge")}
    )
    assert cluster_of(project, "y") == sorted(["x", "y", *x_aliases, *y_aliases])
    assert_flat(project)


def test_a_merge_of_two_lone_ids_links_the_second_to_the_first(project):
    outcome = identity_links_apply(project=project, links=[link("second", "first", MERGE)])

    assert outcome == LinkOutcome(applied=1)
    assert rows(project) == {("second", "first", "merge")}


def test_chained_merges_in_one_call_leave_every_row_on_the_final_root(project):
    for root in ("p", "q", "r"):
        cluster_with(project, root, 3)

    outcome = identity_links_apply(
        project=project,
        links=[link("p", "q", MERGE), link("q-alias-000", "r-alias-001", MERGE)],
    )

    assert outcome == LinkOutcome(applied=2)
    assert IdentityLink.objects.filter(project=project).exclude(canonical_id="r").count() == 0
    assert cluster_of(project, "p-alias-000") == sorted(
        ["p", "q", "r"] + [f"{root}-alias-{n:03d}" for root in "pqr" for n in range(2)]
    )
    assert_flat(project)


def test_a_merge_costs_the_same_queries_whatever_the_cluster_sizes(
    project, django_assert_max_num_queries
):
    cluster_with(project, "big-x", 250)
    cluster_with(project, "big-y", 250)

    # Lock, the project's rule, 2 + 2 reads, the link's record (one upsert), the moved rows'
    # read and one UPDATE of them by their distinct_ids, one INSERT, the savepoint.
    with django_assert_max_num_queries(10):
        outcome = identity_links_apply(project=project, links=[link("big-y", "big-x", MERGE)])

    assert outcome == LinkOutcome(applied=1)
    assert len(cluster_of(project, "big-y-alias-000")) == 500


# --- the 500 cap ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [ALIAS, IDENTIFY, DEVICE])
def test_a_cluster_of_499_ids_accepts_one_more_and_refuses_the_next(project, kind):
    aliases = cluster_with(project, "user", 499)

    outcome = identity_links_apply(
        project=project,
        links=[link("id-500", aliases[7], kind), link("id-501", "user", kind)],
    )

    assert outcome == LinkOutcome(applied=1, refused=[(1, CLUSTER_FULL)])
    assert len(cluster_of(project, "user")) == 500
    assert cluster_of(project, "id-501") == ["id-501"]


def test_a_batch_beyond_the_cap_fills_the_cluster_and_refuses_the_rest(project):
    links = [link(f"alias-{n:03d}", "user") for n in range(600)]

    outcome = identity_links_apply(project=project, links=links)

    assert outcome.applied == 499
    assert outcome.unchanged == 0
    assert outcome.refused == [(n, CLUSTER_FULL) for n in range(499, 600)]
    assert IdentityLink.objects.filter(project=project).count() == 499


def test_a_merge_beyond_the_cap_is_refused_and_changes_nothing(project):
    cluster_with(project, "x", 300)
    cluster_with(project, "y", 201)
    before = rows(project)

    outcome = identity_links_apply(project=project, links=[link("y", "x", MERGE)])

    assert outcome == LinkOutcome(
        refused=[(0, "the merged identity cluster would hold 501 ids; the limit is 500")]
    )
    assert rows(project) == before


def test_a_merge_up_to_the_cap_is_applied(project):
    cluster_with(project, "x", 300)
    cluster_with(project, "y", 200)

    outcome = identity_links_apply(project=project, links=[link("y", "x", MERGE)])

    assert outcome == LinkOutcome(applied=1)
    assert len(cluster_of(project, "y-alias-000")) == 500


# --- bad links and projects -------------------------------------------------------------------


def test_malformed_links_are_refused_by_index_and_the_others_applied(project):
    outcome = identity_links_apply(
        project=project,
        links=[
            link("", "user"),
            link("alias-1", "user"),
            link("alias-2", "u" * 256),
            link("alias-3", "us\x00er"),
            LinkRequest(distinct_id="alias-4", canonical_id="user", kind="bogus"),  # type: ignore[arg-type]
            link("alias-5", "user"),
        ],
    )

    assert outcome == LinkOutcome(
        applied=2,
        refused=[
            (0, "distinct_id is empty"),
            (2, "canonical_id is longer than 255 characters"),
            (3, "canonical_id contains a NUL character"),
            (4, "unknown link kind 'bogus'"),
        ],
    )
    assert rows(project) == {("alias-1", "user", "alias"), ("alias-5", "user", "alias")}


def test_a_call_with_only_malformed_links_refuses_them_all(project):
    outcome = identity_links_apply(project=project, links=[link("", ""), link("a", "")])

    assert outcome == LinkOutcome(
        refused=[(0, "distinct_id is empty"), (1, "canonical_id is empty")]
    )
    assert rows(project) == set()


def test_an_empty_call_does_nothing(project, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert identity_links_apply(project=project, links=[]) == LinkOutcome()


def test_kinds_given_as_plain_strings_are_accepted(project):
    outcome = identity_links_apply(
        project=project,
        links=[LinkRequest(distinct_id="anon", canonical_id="user", kind="identify")],  # type: ignore[arg-type]
    )

    assert outcome == LinkOutcome(applied=1)
    assert rows(project) == {("anon", "user", "identify")}


def test_two_projects_never_share_a_cluster(project):
    other = ProjectFactory(organization=project.organization)
    identity_links_apply(project=project, links=[link("alias", "user-a")])

    outcome = identity_links_apply(
        project=other, links=[link("alias", "user-b"), link("user-a", "user-b", MERGE)]
    )

    assert outcome == LinkOutcome(applied=2)
    assert cluster_of(project, "alias") == ["alias", "user-a"]
    assert cluster_of(other, "alias") == ["alias", "user-a", "user-b"]
    assert rows(project) == {("alias", "user-a", "alias")}


def test_a_batch_of_2000_links_takes_a_bounded_number_of_queries(
    project, django_assert_max_num_queries
):
    existing_aliases = cluster_with(project, "existing", 100)
    links = [link(f"anon-{n}", f"user-{n}", IDENTIFY) for n in range(1000)]
    # 500 clusters of 4: user-2k, anon-2k, user-2k+1, anon-2k+1.
    links += [link(f"user-{2 * k + 1}", f"user-{2 * k}", MERGE) for k in range(500)]
    # The stored cluster moves under user-0 (one UPDATE), then grows to exactly 500 ids.
    links += [link("existing", "user-0", MERGE)]
    links += [link(f"user-{2 * k}", existing_aliases[0], MERGE) for k in range(1, 100)]
    links += [link("user-200", "existing", MERGE)]
    links += [link(f"anon-{n}", f"fresh-{n}") for n in range(399)]
    assert len(links) == 2000

    # Lock, the project's rule, 3 + 3 reads, one upsert of the links' records, the moved rows'
    # read and one UPDATE, bulk inserts of 1,600 rows (12 on SQLite, whose 999 variables a
    # statement hold 142 rows of 7 columns; 1 on PostgreSQL) and the savepoint: never a query
    # per link or cluster member.
    with django_assert_max_num_queries(25):
        outcome = identity_links_apply(project=project, links=links)

    assert outcome == LinkOutcome(
        applied=1600,
        refused=[(1600, "the merged identity cluster would hold 504 ids; the limit is 500")]
        + [(index, ALIAS_REFUSED) for index in range(1601, 2000)],
    )
    assert IdentityLink.objects.filter(project=project).count() == 99 + 1600
    assert IdentityLink.objects.filter(project=project, canonical_id="user-0").count() == 499
    assert len(cluster_of(project, existing_aliases[50])) == 500
    assert cluster_of(project, "user-200") == ["anon-200", "anon-201", "user-200", "user-201"]
    assert_flat(project)


# --- resolving ------------------------------------------------------------------------------


def test_an_id_without_links_resolves_to_itself(project):
    assert identity_clusters_resolve(project_id=project.pk, distinct_ids=["nobody"]) == {
        "nobody": ["nobody"]
    }


def test_resolving_collapses_duplicates_keeps_order_and_is_case_sensitive(project):
    identity_links_apply(project=project, links=[link("alias", "User")])

    resolved = identity_clusters_resolve(
        project_id=project.pk, distinct_ids=["user", "alias", "user", "User"]
    )

    assert list(resolved) == ["user", "alias", "User"]
    assert resolved == {"user": ["user"], "alias": ["User", "alias"], "User": ["User", "alias"]}


def test_resolving_nothing_asks_nothing(project, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert identity_clusters_resolve(project_id=project.pk, distinct_ids=[]) == {}


@pytest.mark.parametrize("count", [10, 2000])
def test_resolving_takes_the_same_bounded_number_of_queries_for_10_or_2000_ids(
    project, django_assert_max_num_queries, count
):
    # Every given id is an alias of its own user, so there are as many roots as ids.
    IdentityLink.objects.bulk_create(
        IdentityLink(
            project=project,
            distinct_id=f"alias-{n}",
            canonical_id=f"user-{n}",
            kind=ALIAS,
            created_at=project.created_at,
        )
        for n in range(count)
    )
    ids = [f"alias-{n}" for n in range(count)]

    with django_assert_max_num_queries(4):
        resolved = identity_clusters_resolve(project_id=project.pk, distinct_ids=ids)

    assert len(resolved) == count
    assert resolved[f"alias-{count - 1}"] == [f"alias-{count - 1}", f"user-{count - 1}"]


def test_the_subject_set_is_the_given_ids_then_their_linked_ids_sorted(project):
    identity_links_apply(
        project=project,
        links=[link("z-anon", "user-b", IDENTIFY), link("a-alias", "user-b"), link("m", "x")],
    )

    subjects = identity_subject_set(
        project_id=project.pk, distinct_ids=["user-b", "lonely", "a-alias", "user-b", "x"]
    )

    assert subjects == ["user-b", "lonely", "a-alias", "x", "m", "z-anon"]


# --- invariants under random link sequences ---------------------------------------------------


class ReferenceClusters:
    """The rules, applied one link at a time with no regard for cost."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.links: dict[str, tuple[str, str]] = {}  # member -> (root, kind)

    def root(self, distinct_id: str) -> str:
        return self.links[distinct_id][0] if distinct_id in self.links else distinct_id

    def members(self, root: str) -> set[str]:
        return {root} | {member for member, (up, _) in self.links.items() if up == root}

    def apply(self, distinct_id: str, canonical_id: str, kind: IdentityKind) -> str:
        joining, target = self.root(distinct_id), self.root(canonical_id)
        if joining == target:
            return "unchanged"
        moving, staying = self.members(joining), self.members(target)
        if kind == MERGE:
            if len(moving) + len(staying) > self.limit:
                return "refused"
            for member in moving - {joining}:
                self.links[member] = (target, self.links[member][1])
            self.links[joining] = (target, kind.value)
            return "applied"
        if len(moving) > 1 or len(staying) + 1 > self.limit:
            return "refused"
        self.links[distinct_id] = (target, kind.value)
        return "applied"


IDS = ["a", "b", "c", "d", "e", "f", "g", "h"]
link_strategy = st.builds(
    link, st.sampled_from(IDS), st.sampled_from(IDS), st.sampled_from(list(IdentityKind))
)


@settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(st.lists(link_strategy, min_size=1, max_size=8), max_size=6))
def test_random_link_sequences_keep_clusters_flat_capped_and_symmetric(
    organization, monkeypatch, batches
):
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 4)
    project = ProjectFactory(organization=organization)  # a fresh project for each example
    reference = ReferenceClusters(limit=4)

    for batch in batches:
        outcome = identity_links_apply(project=project, links=batch)

        expected = [reference.apply(x.distinct_id, x.canonical_id, x.kind) for x in batch]
        assert outcome.applied == expected.count("applied")
        assert outcome.unchanged == expected.count("unchanged")
        assert [index for index, _ in outcome.refused] == [
            index for index, result in enumerate(expected) if result == "refused"
        ]
        assert rows(project) == {
            (member, root, kind) for member, (root, kind) in reference.links.items()
        }
        assert_flat(project)
        sizes = (
            IdentityLink.objects.filter(project=project)
            .values("canonical_id")
            .annotate(members=Count("id"))
            .values_list("members", flat=True)
        )
        assert all(members + 1 <= 4 for members in sizes)
        resolved = identity_clusters_resolve(project_id=project.pk, distinct_ids=IDS)
        for distinct_id, cluster in resolved.items():
            assert distinct_id in cluster
            assert all(resolved[member] == cluster for member in cluster)
            assert cluster == sorted(reference.members(reference.root(distinct_id)))


# --- concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_for_one_project_are_serialized_so_the_cap_holds(project):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the in-memory SQLite test database is shared-cache")
    cluster_with(project, "user", 499)
    first_holds_the_lock = threading.Event()
    first_may_commit = threading.Event()
    outcomes: dict[str, LinkOutcome] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                outcomes["first"] = identity_links_apply(
                    project=project, links=[link("late-1", "user")]
                )
                first_holds_the_lock.set()
                first_may_commit.wait(timeout=10)
        finally:
            connection.close()

    def second() -> None:
        first_holds_the_lock.wait(timeout=10)
        try:
            outcomes["second"] = identity_links_apply(
                project=project, links=[link("late-2", "user")]
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert first_holds_the_lock.wait(timeout=10)
    time.sleep(0.3)
    second_was_waiting = threads[1].is_alive()
    first_may_commit.set()
    for thread in threads:
        thread.join(timeout=10)

    assert second_was_waiting is True
    assert outcomes == {
        "first": LinkOutcome(applied=1),
        "second": LinkOutcome(refused=[(0, CLUSTER_FULL)]),
    }
    assert IdentityLink.objects.filter(project=project).count() == 499
