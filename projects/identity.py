"""Writes of identity clusters: which distinct_ids of a project are one end user.

Clusters are flat: every member has one `IdentityLink` row pointing straight at the cluster's
root, and the root has no row. A batch of links is applied under a per-project lock, in input
order, with a bounded number of queries: the involved ids and the sizes of their clusters are
read up front, the batch is computed in memory, and the result is written set-based.

Every link a call is given that names two storable ids is also kept as evidence
(`IdentityLinkRecord`, one upsert per call): its provenance and its outcome. Under the project's
`authenticated` rule only links from authenticated ingestion form clusters, and the cap counts
only the members such links formed; public links are kept as unverified evidence.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from projects.chunking import in_chunks
from projects.link_records import (
    identity_links_insert,
    identity_roots_move,
    link_records_upsert,
)
from projects.models import (
    IdentityKind,
    IdentityLink,
    IdentityLinksFrom,
    LinkRecordOutcome,
    LinkRefusal,
    Project,
)

# Mixpanel's limit; read at call time so tests can lower it.
IDENTITY_CLUSTER_MAX_IDS = 500
DISTINCT_ID_MAX_LENGTH = 255

# Ids per IN list; well under the bind-variable limits of SQLite (32,766) and PostgreSQL (65,535).
# The two-key form of PostgreSQL's advisory locks; this first key names identity writes, so the
# lock never collides with another feature's lock on the same project id.
_ADVISORY_LOCK_NAMESPACE = 0x49445400


_JOIN_REFUSAL = {
    IdentityKind.ALIAS: (
        LinkRefusal.ALIAS_MAPPED,
        "the alias already maps to another id; an alias maps to one id only",
    ),
    IdentityKind.IDENTIFY: (
        LinkRefusal.ANON_IDENTIFIED,
        "the $anon_id is already identified as another user",
    ),
    IdentityKind.DEVICE: (
        LinkRefusal.DEVICE_LINKED,
        "the device is already linked to another user; a device links to the first user id "
        "it is seen with",
    ),
}
_INSERT_ID_MAX_LENGTH = 36


@dataclass(frozen=True)
class LinkProvenance:
    """How a call's links reached us: the endpoint, and whether the ingestion was
    authenticated (the API secret or a service account, named by `principal`) or public (the
    project token alone)."""

    endpoint: str
    authenticated: bool
    principal: str = ""


# Trusted code of this installation (the demo, tests): links it makes count as authenticated.
# Ingestion always says what it is.
INTERNAL = LinkProvenance(endpoint="internal", authenticated=True, principal="internal")


@dataclass(frozen=True)
class LinkRequest:
    """One identity link to apply.

    `distinct_id` is the id that joins (the alias, the `$anon_id`, or `"$device:<device_id>"`;
    for MERGE the second id); `canonical_id` is the id it joins (the original id, the
    `$identified_id`, the `$user_id`; for MERGE the first id).
    """

    distinct_id: str
    canonical_id: str
    kind: IdentityKind
    # The `$insert_id` of the event that asked for the link; not part of the link's identity,
    # so repeats of one device link within a batch are still one link.
    insert_id: str | None = field(default=None, compare=False)


@dataclass
class LinkOutcome:
    applied: int = 0
    unchanged: int = 0
    # (index in the input, human-readable reason); the reason never contains a distinct_id.
    refused: list[tuple[int, str]] = field(default_factory=list)
    # Public links under the project's `authenticated` rule: kept as evidence, formed nothing.
    unverified: int = 0


def identity_links_apply(
    *, project: Project, links: Sequence[LinkRequest], provenance: LinkProvenance = INTERNAL
) -> LinkOutcome:
    """Applies identity links in input order; later links see the effect of earlier ones.

    ALIAS, IDENTIFY and DEVICE attach `distinct_id` to the cluster of `canonical_id` if it is in
    no cluster yet; a link that would join two different users is refused, never applied. MERGE
    moves the whole cluster of `distinct_id` into the cluster of `canonical_id`. A link that
    would make a cluster exceed `IDENTITY_CLUSTER_MAX_IDS` ids is refused. A link between ids
    already in the same cluster (an id and itself included) is counted as unchanged.

    Under the project's `authenticated` rule, public links form nothing (unverified), and the
    cap counts a cluster's root and the members authenticated links formed. An authenticated
    link between two ids that are together only through public links formed before the rule
    changed forms no row but is recorded as formed: it is an authenticated edge of the cluster
    (projects.identity_resolution follows those).

    Every link whose two ids can be stored is recorded with `provenance` and its outcome.
    Concurrent calls for one project are serialized, so the flat shape and the cap always hold.
    Runs in its own transaction (a savepoint inside the caller's).
    """
    outcome = LinkOutcome()
    kinds = [_valid_kind(link) for link in links]
    problems = [_link_problem(link, kind) for link, kind in zip(links, kinds, strict=True)]
    involved: dict[str, None] = {}
    for link, problem in zip(links, problems, strict=True):
        if problem is None:
            involved[link.distinct_id] = None
            involved[link.canonical_id] = None
    if not involved:
        outcome.refused = [(index, problem or "") for index, problem in enumerate(problems)]
        return outcome

    # (index, outcome, refusal code) of every valid link, for its record.
    results: list[tuple[int, LinkRecordOutcome, str]] = []
    with transaction.atomic():
        identity_writes_lock(project_id=project.pk)
        # Read under the lock, which a change of the rule also takes: no batch applies a rule
        # after a change of it has committed.
        rule = Project.objects.values_list("identity_links_from", flat=True).get(pk=project.pk)
        authenticated_rule = rule == IdentityLinksFrom.AUTHENTICATED
        forming = provenance.authenticated or not authenticated_rule
        clusters = _Clusters.load(
            project_id=project.pk,
            distinct_ids=list(involved),
            authenticated_only=authenticated_rule,
        )
        for index, (link, kind, problem) in enumerate(zip(links, kinds, problems, strict=True)):
            if problem is not None or kind is None:
                outcome.refused.append((index, problem or ""))
                continue
            if clusters.together(link.distinct_id, link.canonical_id):
                if forming and authenticated_rule and clusters.has_public_members(link.distinct_id):
                    outcome.applied += 1
                    results.append((index, LinkRecordOutcome.FORMED, ""))
                else:
                    outcome.unchanged += 1
                    results.append((index, LinkRecordOutcome.UNCHANGED, ""))
                continue
            if not forming:
                outcome.unverified += 1
                results.append((index, LinkRecordOutcome.UNVERIFIED, ""))
                continue
            refusal = clusters.attach(link.distinct_id, link.canonical_id, kind, index=index)
            if refusal is None:
                outcome.applied += 1
                results.append((index, LinkRecordOutcome.FORMED, ""))
            else:
                outcome.refused.append((index, refusal[1]))
                results.append((index, LinkRecordOutcome.REFUSED, refusal[0]))
        record_ids = _records_save(
            project_id=project.pk, links=links, results=results, provenance=provenance
        )
        clusters.save(project_id=project.pk, provenance=provenance, record_ids=record_ids)
    outcome.refused.sort()
    return outcome


def _records_save(
    *,
    project_id: int,
    links: Sequence[LinkRequest],
    results: list[tuple[int, LinkRecordOutcome, str]],
    provenance: LinkProvenance,
) -> dict[int, int]:
    """Records every valid link; returns the record id of each link that formed a row, by its
    index."""
    rows = [
        (
            links[index].distinct_id,
            links[index].canonical_id,
            str(links[index].kind),
            str(result),
            reason,
            _storable_insert_id(links[index].insert_id),
        )
        for index, result, reason in results
    ]
    formed = link_records_upsert(
        project_id=project_id,
        authenticated=provenance.authenticated,
        endpoint=provenance.endpoint,
        principal=provenance.principal,
        seen_at=timezone.now(),
        rows=rows,
    )
    return {
        index: formed[(link.distinct_id, link.canonical_id, str(link.kind))]
        for index, result, _ in results
        if result == LinkRecordOutcome.FORMED and (link := links[index])
    }


def _storable_insert_id(insert_id: object) -> str:
    # Identity events' $insert_id is not validated by ingestion: keep it only if it fits.
    if isinstance(insert_id, str) and 0 < len(insert_id) <= _INSERT_ID_MAX_LENGTH:
        if "\x00" not in insert_id:
            return insert_id
    return ""


def _valid_kind(link: LinkRequest) -> IdentityKind | None:
    try:
        return IdentityKind(link.kind)
    except ValueError:
        return None


def _id_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "is not a string"
    if not value:
        return "is empty"
    if len(value) > DISTINCT_ID_MAX_LENGTH:
        return f"is longer than {DISTINCT_ID_MAX_LENGTH} characters"
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; one such id must not fail the whole batch.
        return "contains a NUL character"
    return None


def _link_problem(link: LinkRequest, kind: IdentityKind | None) -> str | None:
    if kind is None:
        return f"unknown link kind {str(link.kind)[:20]!r}"
    for name in ("distinct_id", "canonical_id"):
        problem = _id_problem(getattr(link, name))
        if problem is not None:
            return f"{name} {problem}"
    return None


def identity_writes_lock(*, project_id: int) -> None:
    """Serializes identity writes of one project until the outermost transaction ends."""
    if connection.vendor == "postgresql":
        # Held until the outermost transaction ends. Project ids past 2**31 wrap; a collision
        # only serializes two projects' identity writes, it never breaks them.
        key = (project_id + 2**31) % 2**32 - 2**31
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ADVISORY_LOCK_NAMESPACE, key])
    else:
        # SQLite locks the whole database: writing first takes its write lock now, so a
        # concurrent batch waits for this one instead of failing to upgrade a read lock later.
        # Other databases take a row lock on the project.
        Project.objects.filter(pk=project_id).update(token=F("token"))


class _Clusters:
    """The clusters of a batch's ids, as a union-find whose roots are the clusters' roots.

    `size` counts every member (an id already in a cluster cannot join another); `weight`
    counts what the cap counts: every member, or under the `authenticated` rule the root and
    the members authenticated links formed.
    """

    def __init__(
        self, *, parent: dict[str, str], size: dict[str, int], weight: dict[str, int]
    ) -> None:
        self._parent = parent
        self._size = size
        self._weight = weight
        # Roots that already have member rows; if one is merged away, its rows move.
        self._stored_roots = {root for root, count in size.items() if count > 1}
        # Ids that get a row in this batch: the kind of link that gave it, and its index.
        self._new_links: dict[str, tuple[IdentityKind, int]] = {}

    @classmethod
    def load(
        cls, *, project_id: int, distinct_ids: list[str], authenticated_only: bool
    ) -> "_Clusters":
        parent = {distinct_id: distinct_id for distinct_id in distinct_ids}
        for chunk in in_chunks(distinct_ids):
            rows = IdentityLink.objects.filter(
                project_id=project_id, distinct_id__in=chunk
            ).values_list("distinct_id", "canonical_id")
            for distinct_id, canonical_id in rows:
                parent[distinct_id] = canonical_id
                parent.setdefault(canonical_id, canonical_id)
        roots = [distinct_id for distinct_id, up in parent.items() if distinct_id == up]
        size = dict.fromkeys(roots, 1)
        weight = dict.fromkeys(roots, 1)
        counted = Count("id", filter=Q(authenticated=True)) if authenticated_only else Count("id")
        for chunk in in_chunks(roots):
            counts = (
                IdentityLink.objects.filter(project_id=project_id, canonical_id__in=chunk)
                .order_by()
                .values("canonical_id")
                .annotate(members=Count("id"), counted=counted)
                .values_list("canonical_id", "members", "counted")
            )
            for root, members, counted_members in counts:
                size[root] += members
                weight[root] += counted_members
        return cls(parent=parent, size=size, weight=weight)

    def root(self, distinct_id: str) -> str:
        root = distinct_id
        while self._parent[root] != root:
            root = self._parent[root]
        # Path compression keeps later look-ups short after a chain of merges.
        while distinct_id != root:
            up = self._parent[distinct_id]
            self._parent[distinct_id] = root
            distinct_id = up
        return root

    def together(self, distinct_id: str, canonical_id: str) -> bool:
        return self.root(distinct_id) == self.root(canonical_id)

    def has_public_members(self, distinct_id: str) -> bool:
        """Whether the id's cluster holds members the cap does not count (public links formed
        them before the project's rule became `authenticated`)."""
        root = self.root(distinct_id)
        return self._size[root] > self._weight[root]

    def attach(
        self, distinct_id: str, canonical_id: str, kind: IdentityKind, *, index: int
    ) -> tuple[str, str] | None:
        """Joins the two ids' clusters; returns None, or why the link is refused (a
        `LinkRefusal` code and a message)."""
        joining, target = self.root(distinct_id), self.root(canonical_id)
        limit = IDENTITY_CLUSTER_MAX_IDS
        if kind == IdentityKind.MERGE:
            total = self._weight[joining] + self._weight[target]
            if total > limit:
                return (
                    LinkRefusal.MERGE_TOO_LARGE,
                    f"the merged identity cluster would hold {total} ids; the limit is {limit}",
                )
        else:
            if self._size[joining] > 1:
                return _JOIN_REFUSAL[kind]
            if self._weight[target] + 1 > limit:
                return (
                    LinkRefusal.CLUSTER_FULL,
                    f"the identity cluster already holds {self._weight[target]} ids, the limit",
                )
        # `joining` is a root: distinct_id itself for a join, its cluster's root for a merge.
        self._parent[joining] = target
        self._size[target] += self._size.pop(joining)
        self._weight[target] += self._weight.pop(joining)
        self._new_links[joining] = (kind, index)
        return None

    def save(
        self, *, project_id: int, provenance: LinkProvenance, record_ids: dict[int, int]
    ) -> None:
        moves = [
            (old_root, new_root)
            for old_root in self._stored_roots
            if (new_root := self.root(old_root)) != old_root
        ]
        identity_roots_move(project_id=project_id, moves=moves)
        identity_links_insert(
            project_id=project_id,
            authenticated=provenance.authenticated,
            created_at=timezone.now(),
            rows=[
                (distinct_id, self.root(distinct_id), str(kind), record_ids[index])
                for distinct_id, (kind, index) in self._new_links.items()
            ],
        )
