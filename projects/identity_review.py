"""What a request would reach, id by id, for a person to review before it runs (DESIGN section
5.1): every given id and every linked id with how it was linked and its data counts; the ids
whose links into the subject's clusters were refused or are unverified (never reached unless a
person includes them); and the links that look like abuse.

The flags are projects.identity_flags'.

Set-based, for up to 2,000 given ids: a few indexed queries per 1,000 ids of the clusters.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from django.db.models import Count, Min, Q

from projects.chunking import in_chunks
from projects.identity import IDENTITY_CLUSTER_MAX_IDS
from projects.identity_flags import (
    ClusterSize,
    IdentityFlag,
    cluster_sizes,
    identity_flags,
    record_ends,
)
from projects.identity_resolution import SubjectResolution, identity_subject_resolve
from projects.models import (
    Event,
    IdentityLink,
    IdentityLinkRecord,
    LinkRecordOutcome,
    Profile,
    Project,
)

_CANDIDATE_OUTCOMES = (LinkRecordOutcome.REFUSED, LinkRecordOutcome.UNVERIFIED)


@dataclass(frozen=True)
class LinkHow:
    """One link as evidence: its kind, its provenance (`authenticated` None: made before
    provenance was recorded), when, and what became of it. `other_id` is the id on its other
    side; for a cluster member linked by a merge, the member it was merged with."""

    kind: str
    authenticated: bool | None
    endpoint: str
    principal: str
    at: datetime
    insert_id: str
    outcome: str
    reason: str
    other_id: str
    count: int = 1


@dataclass(frozen=True)
class ReviewedId:
    """`role`: "given", "linked" (by the project's rule), "refused" or "unverified" (a
    candidate: never reached unless a person includes it). `how` is how a given or linked id
    joined its cluster (None for a cluster's root or a lone id); `evidence` the refused or
    unverified links that point a candidate into the subject's clusters."""

    distinct_id: str
    role: str
    root: str
    events: int
    profile: bool
    first_event_at: datetime | None
    how: LinkHow | None
    evidence: tuple[LinkHow, ...]
    left_out: bool
    included: bool
    flags: tuple[str, ...]
    # Whether link records name it (evidence is data of the id, even without events).
    named_by_records: bool = False

    @property
    def reached(self) -> bool:
        """Whether the request, with the decisions given, acts on this id."""
        if self.role in ("given", "linked"):
            return not self.left_out
        return self.included


@dataclass(frozen=True)
class ClusterReview:
    """A flat cluster the given ids belong to: `members` every id in it, `counted` what the
    cap counts under the project's rule."""

    root: str
    given: tuple[str, ...]
    members: int
    counted: int
    at_cap: bool
    flags: tuple[str, ...]


@dataclass(frozen=True)
class IdentityReview:
    rule: str
    given: list[ReviewedId]
    linked: list[ReviewedId]
    candidates: list[ReviewedId]
    clusters: list[ClusterReview]
    flags: list[IdentityFlag]
    resolution: SubjectResolution

    @property
    def no_data(self) -> list[str]:
        """Given ids with no data at all in the project (no event, profile or link), in
        their order: what the preview lists first."""
        return [
            reviewed.distinct_id
            for reviewed in self.given
            if not (reviewed.events or reviewed.profile or reviewed.named_by_records)
            and reviewed.distinct_id not in self.resolution.clustered
        ]

    @property
    def subject_ids(self) -> list[str]:
        return self.resolution.subject_ids


def identity_review(
    *,
    project: Project,
    distinct_ids: Sequence[str],
    left_out: Iterable[str] = (),
    included: Iterable[str] = (),
) -> IdentityReview:
    """The review of a request for these ids, with these decisions (module docstring)."""
    resolution = identity_subject_resolve(
        project=project, distinct_ids=distinct_ids, left_out=left_out, included=included
    )
    root_of = {member: root for root, members in resolution.clusters.items() for member in members}
    members = sorted(root_of)
    reached = {*resolution.given, *resolution.linked, *resolution.left_out}
    rows = identity_links_how(project_id=project.pk, distinct_ids=members)
    records = link_records_touching(project_id=project.pk, distinct_ids=members)
    evidence = _candidates(resolution=resolution, reached=reached, rows=rows, records=records)
    for candidate, found in evidence.items():
        root_of.setdefault(candidate, root_of.get(found[0].other_id, found[0].other_id))
    counts = _data_counts(project_id=project.pk, distinct_ids=[*members, *sorted(evidence)])
    sizes = cluster_sizes(project=project, resolution=resolution, records=records)
    flags = identity_flags(root_of=root_of, records=records, counts=counts, sizes=sizes)
    flagged: dict[str, set[str]] = {}
    for flag in flags:
        for distinct_id in flag.distinct_ids:
            flagged.setdefault(distinct_id, set()).add(flag.code)
    named = {end for record in records for end in record_ends(record)}
    left = set(resolution.left_out)
    wanted = set(included) - reached

    def reviewed(distinct_id: str, role: str) -> ReviewedId:
        events, first, profile = counts.get(distinct_id, (0, None, False))
        found = tuple(sorted(evidence.get(distinct_id, ()), key=lambda how: how.at))
        member = role in ("given", "linked")
        if not member:
            refused = any(how.outcome == LinkRecordOutcome.REFUSED for how in found)
            role = LinkRecordOutcome.REFUSED if refused else LinkRecordOutcome.UNVERIFIED
        return ReviewedId(
            distinct_id=distinct_id,
            role=str(role),
            root=root_of.get(distinct_id, distinct_id),
            events=events,
            profile=profile,
            first_event_at=first,
            how=rows.get(distinct_id) if member else None,
            evidence=() if member else found,
            left_out=distinct_id in left,
            included=distinct_id in wanted,
            flags=tuple(sorted(flagged.get(distinct_id, ()))),
            named_by_records=distinct_id in named,
        )

    return IdentityReview(
        rule=resolution.rule,
        given=[reviewed(distinct_id, "given") for distinct_id in resolution.given],
        linked=[
            reviewed(distinct_id, "linked")
            for distinct_id in sorted([*resolution.linked, *resolution.left_out])
        ],
        candidates=[reviewed(distinct_id, "candidate") for distinct_id in sorted(evidence)],
        clusters=_clusters(resolution=resolution, flags=flags, sizes=sizes),
        flags=flags,
        resolution=resolution,
    )


def _candidates(
    *,
    resolution: SubjectResolution,
    reached: set[str],
    rows: dict[str, LinkHow],
    records: list[IdentityLinkRecord],
) -> dict[str, list[LinkHow]]:
    """The ids a request does not reach but whose links point into its clusters, each with
    those links: the other side of a refused or unverified record, and the members the rule
    does not follow (their public row; for such a root, the public row that points at it)."""
    evidence: dict[str, list[LinkHow]] = {}
    for record in records:
        if record.outcome not in _CANDIDATE_OUTCOMES:
            continue
        for inside, outside in (
            (record.distinct_id, record.canonical_id),
            (record.canonical_id, record.distinct_id),
        ):
            if inside in reached and outside not in reached:
                evidence.setdefault(outside, []).append(record_how(record, other_id=inside))
    unverified = LinkRecordOutcome.UNVERIFIED
    pointing: dict[str, LinkHow] = {}
    for member, how in rows.items():
        if member in reached and how.authenticated is not True:
            pointing.setdefault(how.other_id, replace(how, other_id=member))
    for member in resolution.unfollowed:
        found = rows.get(member) or pointing.get(member)
        if found is not None:
            evidence.setdefault(member, []).append(replace(found, outcome=unverified))
    return evidence


def identity_links_how(*, project_id: int, distinct_ids: Sequence[str]) -> dict[str, LinkHow]:
    """How each of these ids joined its cluster: its row, with the record that formed it
    (`other_id`: the id on the other side of that link). Roots and lone ids are absent."""
    found: dict[str, LinkHow] = {}
    for chunk in in_chunks(distinct_ids):
        rows = IdentityLink.objects.filter(project_id=project_id, distinct_id__any=chunk).values(
            "distinct_id",
            "canonical_id",
            "kind",
            "authenticated",
            "created_at",
            "record_id",
            "record__distinct_id",
            "record__canonical_id",
            "record__endpoint",
            "record__principal",
            "record__insert_id",
        )
        for row in rows:
            has_record = row["record_id"] is not None
            other = row["canonical_id"]
            if has_record:
                ends = (row["record__distinct_id"], row["record__canonical_id"])
                other = ends[1] if ends[0] == row["distinct_id"] else ends[0]
            found[row["distinct_id"]] = LinkHow(
                kind=row["kind"],
                authenticated=row["authenticated"] if has_record else None,
                endpoint=row["record__endpoint"] or "",
                principal=row["record__principal"] or "",
                at=row["created_at"],
                insert_id=row["record__insert_id"] or "",
                outcome=LinkRecordOutcome.FORMED,
                reason="",
                other_id=other,
            )
    return found


def link_records_touching(
    *, project_id: int, distinct_ids: Sequence[str]
) -> list[IdentityLinkRecord]:
    """Every link record that names one of these ids, on either side, oldest first."""
    found: dict[int, IdentityLinkRecord] = {}
    for chunk in in_chunks(distinct_ids):
        for record in IdentityLinkRecord.objects.filter(
            Q(distinct_id__any=chunk) | Q(canonical_id__any=chunk), project_id=project_id
        ):
            found[record.pk] = record
    return sorted(found.values(), key=lambda record: (record.first_seen_at, record.pk))


def record_how(record: IdentityLinkRecord, *, other_id: str) -> LinkHow:
    return LinkHow(
        kind=record.kind,
        authenticated=record.authenticated,
        endpoint=record.endpoint,
        principal=record.principal,
        at=record.first_seen_at,
        insert_id=record.insert_id,
        outcome=record.outcome,
        reason=record.reason,
        other_id=other_id,
        count=record.count,
    )


def _data_counts(
    *, project_id: int, distinct_ids: list[str]
) -> dict[str, tuple[int, datetime | None, bool]]:
    """(events, time of the first event, has a profile) of each id that has data."""
    counts: dict[str, tuple[int, datetime | None, bool]] = {}
    for chunk in in_chunks(list(dict.fromkeys(distinct_ids))):
        per_id = (
            Event.objects.filter(project_id=project_id, distinct_id__any=chunk)
            .order_by()
            .values("distinct_id")
            .annotate(events=Count("id"), first=Min("time"))
            .values_list("distinct_id", "events", "first")
        )
        for distinct_id, events, first in per_id:
            counts[distinct_id] = (events, first, False)
        profiles = Profile.objects.filter(project_id=project_id, distinct_id__any=chunk)
        for distinct_id in profiles.values_list("distinct_id", flat=True):
            events, first, _ = counts.get(distinct_id, (0, None, False))
            counts[distinct_id] = (events, first, True)
    return counts


def _clusters(
    *,
    resolution: SubjectResolution,
    flags: list[IdentityFlag],
    sizes: list[ClusterSize],
) -> list[ClusterReview]:
    codes: dict[str, set[str]] = {}
    for flag in flags:
        codes.setdefault(flag.root, set()).add(flag.code)
    given_by_root: dict[str, list[str]] = {}
    for distinct_id, root in resolution.roots.items():
        given_by_root.setdefault(root, []).append(distinct_id)
    return [
        ClusterReview(
            root=size.root,
            given=tuple(given_by_root[size.root]),
            members=size.members,
            counted=size.counted,
            at_cap=size.counted >= IDENTITY_CLUSTER_MAX_IDS or bool(size.refused_for_cap),
            flags=tuple(sorted(codes.get(size.root, ()))),
        )
        for size in sizes
        if size.members > 1 or size.refused_for_cap
    ]
