"""Which ids a privacy request reaches: the given ids, the ids the project's rule links to them,
less the linked ids a person left out, plus the refused or unverified ids a person included.

- Rule `any` (Mixpanel's): the flat identity clusters of the given ids, whole.
- Rule `authenticated`: within those flat clusters, only what authenticated links connect: the
  formed records of authenticated ingestion are the edges, and a given id reaches the ids of its
  connected component. Rows formed by public links before the project switched stay as they
  are, but reach nothing (nothing is rewritten when the rule changes, and switching back
  follows them again).
- Never automatically: an id whose link was refused or is unverified, or a member the rule
  does not follow. A person may include such ids (privacy_requests stores who and when); an
  included id adds itself, never its own cluster, which may be a stranger's.

Set-based: a few indexed queries per 1,000 ids, whatever the size of the clusters.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from projects.chunking import in_chunks
from projects.models import IdentityLinkRecord, IdentityLinksFrom, LinkRecordOutcome, Project
from projects.selectors import identity_clusters_by_root


@dataclass(frozen=True)
class SubjectResolution:
    """What a request with these ids and decisions reaches, under `rule`.

    `linked` are the ids the rule links to the given ones, sorted, less `left_out`;
    `unfollowed` the members of the given ids' flat clusters the rule does not follow (public
    links under `authenticated`), sorted; `included` the ids a person included that neither
    the given nor the linked ids hold, sorted; `clustered` the given ids that belong to a
    flat cluster (they have identity data even without events).
    """

    rule: str
    given: list[str]
    linked: list[str]
    left_out: list[str]
    included: list[str]
    unfollowed: list[str]
    clustered: frozenset[str] = field(default_factory=frozenset)
    # Each given id's flat root (itself when it has none), and each such root's flat members.
    roots: dict[str, str] = field(default_factory=dict)
    clusters: dict[str, list[str]] = field(default_factory=dict)

    @property
    def subject_ids(self) -> list[str]:
        """The subject set: given first, in their order, then linked, then included."""
        return [*self.given, *self.linked, *self.included]


def identity_subject_resolve(
    *,
    project: Project,
    distinct_ids: Sequence[str],
    left_out: Iterable[str] = (),
    included: Iterable[str] = (),
) -> SubjectResolution:
    """The subject set of a request (module docstring). Given ids are never left out."""
    given = list(dict.fromkeys(distinct_ids))
    root_of, clusters = identity_clusters_by_root(project_id=project.pk, distinct_ids=given)
    members = {member for cluster in clusters.values() for member in cluster}
    if project.identity_links_from == IdentityLinksFrom.AUTHENTICATED:
        reached = authenticated_components(project_id=project.pk, given=given, members=members)
    else:
        reached = members
    given_set = set(given)
    dropped = set(left_out) - given_set
    linked_all = reached - given_set
    wanted = set(included) - given_set - linked_all
    return SubjectResolution(
        rule=project.identity_links_from,
        given=given,
        linked=sorted(linked_all - dropped),
        left_out=sorted(linked_all & dropped),
        included=sorted(wanted),
        unfollowed=sorted(members - reached),
        clustered=frozenset(
            distinct_id for distinct_id in given if len(clusters[root_of[distinct_id]]) > 1
        ),
        roots=root_of,
        clusters=clusters,
    )


def authenticated_components(*, project_id: int, given: list[str], members: set[str]) -> set[str]:
    """The ids that authenticated formed links connect to the given ids, within `members` (the
    given ids' flat clusters, which hold every formed link of theirs)."""
    parent = {member: member for member in members}

    def find(distinct_id: str) -> str:
        while parent[distinct_id] != distinct_id:
            parent[distinct_id] = parent[parent[distinct_id]]
            distinct_id = parent[distinct_id]
        return distinct_id

    for chunk in in_chunks(sorted(members)):
        edges = IdentityLinkRecord.objects.filter(
            project_id=project_id,
            distinct_id__any=chunk,
            authenticated=True,
            outcome=LinkRecordOutcome.FORMED,
        ).values_list("distinct_id", "canonical_id")
        for first, second in edges:
            if second in parent:
                a, b = find(first), find(second)
                if a != b:
                    parent[a] = b
    wanted = {find(distinct_id) for distinct_id in given}
    return {member for member in members if find(member) in wanted}
