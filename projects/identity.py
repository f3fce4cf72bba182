"""Writes of identity clusters: which distinct_ids of a project are one end user.

Clusters are flat: every member has one `IdentityLink` row pointing straight at the cluster's
root, and the root has no row. A batch of links is applied under a per-project lock, in input
order, with a bounded number of queries: the involved ids and the sizes of their clusters are
read up front, the batch is computed in memory, and the result is written set-based.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, Value, When
from django.utils import timezone

from projects.chunking import in_chunks
from projects.models import IdentityKind, IdentityLink, Project

# Mixpanel's limit; read at call time so tests can lower it.
IDENTITY_CLUSTER_MAX_IDS = 500
DISTINCT_ID_MAX_LENGTH = 255

# Ids per IN list; well under the bind-variable limits of SQLite (32,766) and PostgreSQL (65,535).
# Root moves per UPDATE ... CASE: three bind variables each.
_MOVE_CHUNK = 300
# The two-key form of PostgreSQL's advisory locks; this first key names identity writes, so the
# lock never collides with another feature's lock on the same project id.
_ADVISORY_LOCK_NAMESPACE = 0x49445400


_JOIN_REFUSAL = {
    IdentityKind.ALIAS: "the alias already maps to another id; an alias maps to one id only",
    IdentityKind.IDENTIFY: "the $anon_id is already identified as another user",
    IdentityKind.DEVICE: (
        "the device is already linked to another user; a device links to the first user id "
        "it is seen with"
    ),
}


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


@dataclass
class LinkOutcome:
    applied: int = 0
    unchanged: int = 0
    # (index in the input, human-readable reason); the reason never contains a distinct_id.
    refused: list[tuple[int, str]] = field(default_factory=list)


def identity_links_apply(*, project: Project, links: Sequence[LinkRequest]) -> LinkOutcome:
    """Applies identity links in input order; later links see the effect of earlier ones.

    ALIAS, IDENTIFY and DEVICE attach `distinct_id` to the cluster of `canonical_id` if it is in
    no cluster yet; a link that would join two different users is refused, never applied. MERGE
    moves the whole cluster of `distinct_id` into the cluster of `canonical_id`. A link that
    would make a cluster exceed `IDENTITY_CLUSTER_MAX_IDS` ids is refused. A link between ids
    already in the same cluster (an id and itself included) is counted as unchanged.

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

    with transaction.atomic():
        _lock_identity_writes(project_id=project.pk)
        clusters = _Clusters.load(project_id=project.pk, distinct_ids=list(involved))
        for index, (link, kind, problem) in enumerate(zip(links, kinds, problems, strict=True)):
            if problem is None and kind is not None:
                if clusters.together(link.distinct_id, link.canonical_id):
                    outcome.unchanged += 1
                    continue
                problem = clusters.attach(link.distinct_id, link.canonical_id, kind)
            if problem is None:
                outcome.applied += 1
            else:
                outcome.refused.append((index, problem))
        clusters.save(project_id=project.pk)
    return outcome


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


def _lock_identity_writes(*, project_id: int) -> None:
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
    """The clusters of a batch's ids, as a union-find whose roots are the clusters' roots."""

    def __init__(self, *, parent: dict[str, str], size: dict[str, int]) -> None:
        self._parent = parent
        self._size = size
        # Roots that already have member rows; if one is merged away, its rows move.
        self._stored_roots = {root for root, count in size.items() if count > 1}
        # Ids that get a row in this batch, with the kind of link that gave it.
        self._new_links: dict[str, IdentityKind] = {}

    @classmethod
    def load(cls, *, project_id: int, distinct_ids: list[str]) -> "_Clusters":
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
        for chunk in in_chunks(roots):
            counts = (
                IdentityLink.objects.filter(project_id=project_id, canonical_id__in=chunk)
                .order_by()
                .values("canonical_id")
                .annotate(members=Count("id"))
                .values_list("canonical_id", "members")
            )
            for root, members in counts:
                size[root] += members
        return cls(parent=parent, size=size)

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

    def attach(self, distinct_id: str, canonical_id: str, kind: IdentityKind) -> str | None:
        """Joins the two ids' clusters; returns None, or why the link is refused."""
        joining, target = self.root(distinct_id), self.root(canonical_id)
        limit = IDENTITY_CLUSTER_MAX_IDS
        if kind == IdentityKind.MERGE:
            total = self._size[joining] + self._size[target]
            if total > limit:
                return f"the merged identity cluster would hold {total} ids; the limit is {limit}"
        else:
            if self._size[joining] > 1:
                return _JOIN_REFUSAL[kind]
            if self._size[target] + 1 > limit:
                return f"the identity cluster already holds {self._size[target]} ids, the limit"
        # `joining` is a root: distinct_id itself for a join, its cluster's root for a merge.
        self._parent[joining] = target
        self._size[target] += self._size.pop(joining)
        self._new_links[joining] = kind
        return None

    def save(self, *, project_id: int) -> None:
        moves = [
            (old_root, new_root)
            for old_root in self._stored_roots
            if (new_root := self.root(old_root)) != old_root
        ]
        for chunk in in_chunks(moves, _MOVE_CHUNK):
            IdentityLink.objects.filter(
                project_id=project_id, canonical_id__in=[old for old, _ in chunk]
            ).update(
                canonical_id=Case(
                    *(When(canonical_id=old, then=Value(new)) for old, new in chunk),
                    output_field=CharField(),
                )
            )
        if self._new_links:
            now = timezone.now()
            IdentityLink.objects.bulk_create(
                IdentityLink(
                    project_id=project_id,
                    distinct_id=distinct_id,
                    canonical_id=self.root(distinct_id),
                    kind=kind,
                    created_at=now,
                )
                for distinct_id, kind in self._new_links.items()
            )
