"""Links that look like abuse, for the review of a request (projects.identity_review):

- `active_ids_joined_publicly`: a public link between two ids that each had events before it
  (formed, or unverified under the `authenticated` rule);
- `public_link_burst`: more than PUBLIC_BURST_LINKS public links into one cluster within
  PUBLIC_BURST_WINDOW (formed, unverified or refused: an attempt counts);
- `cluster_at_cap`: the cluster holds what the cap allows under the project's rule, or a link
  into it was refused for the cap.
Computed from what the review read already, plus one count per 1,000 clusters.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count

from projects.chunking import in_chunks
from projects.identity import IDENTITY_CLUSTER_MAX_IDS
from projects.identity_resolution import SubjectResolution
from projects.models import (
    IdentityLink,
    IdentityLinkRecord,
    IdentityLinksFrom,
    LinkRecordOutcome,
    LinkRefusal,
    Project,
)

# "More than a handful of public links within minutes."
PUBLIC_BURST_LINKS = 5
PUBLIC_BURST_WINDOW = timedelta(minutes=10)

ACTIVE_IDS_JOINED_PUBLICLY = "active_ids_joined_publicly"
PUBLIC_LINK_BURST = "public_link_burst"
CLUSTER_AT_CAP = "cluster_at_cap"
_CAP_REFUSALS = (LinkRefusal.CLUSTER_FULL, LinkRefusal.MERGE_TOO_LARGE)


@dataclass(frozen=True)
class IdentityFlag:
    code: str
    root: str
    distinct_ids: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class ClusterSize:
    """A given id's flat cluster: `members` every id in it, `counted` what the cap counts
    under the project's rule, `refused_for_cap` the ids whose links into it the cap refused."""

    root: str
    members: int
    counted: int
    refused_for_cap: tuple[str, ...]


def identity_flags(
    *,
    root_of: dict[str, str],
    records: list[IdentityLinkRecord],
    counts: dict[str, tuple[int, datetime | None, bool]],
    sizes: list[ClusterSize],
) -> list[IdentityFlag]:
    flags: list[IdentityFlag] = []
    public = [
        record
        for record in records
        if not record.authenticated
        and record.outcome in (LinkRecordOutcome.FORMED, LinkRecordOutcome.UNVERIFIED)
    ]
    for record in public:
        firsts = [counts.get(end, (0, None, False))[1] for end in record_ends(record)]
        if all(first is not None and first < record.first_seen_at for first in firsts):
            flags.append(
                IdentityFlag(
                    code=ACTIVE_IDS_JOINED_PUBLICLY,
                    root=_root_of_record(record, root_of),
                    distinct_ids=record_ends(record),
                    message=(
                        "A public link (project token only) joined two ids that each had "
                        "their own events before it."
                    ),
                )
            )
    by_cluster: dict[str, list[IdentityLinkRecord]] = {}
    for record in records:
        if not record.authenticated and record.outcome != LinkRecordOutcome.UNCHANGED:
            by_cluster.setdefault(_root_of_record(record, root_of), []).append(record)
    for root, linked in by_cluster.items():
        burst = _densest_window(linked)
        if len(burst) > PUBLIC_BURST_LINKS:
            ids = sorted({end for record in burst for end in record_ends(record)})
            minutes = PUBLIC_BURST_WINDOW.total_seconds() / 60
            flags.append(
                IdentityFlag(
                    code=PUBLIC_LINK_BURST,
                    root=root,
                    distinct_ids=tuple(ids),
                    message=(
                        f"{len(burst)} public links into this cluster within {minutes:.0f} minutes."
                    ),
                )
            )
    for size in sizes:
        if size.counted >= IDENTITY_CLUSTER_MAX_IDS or size.refused_for_cap:
            flags.append(
                IdentityFlag(
                    code=CLUSTER_AT_CAP,
                    root=size.root,
                    distinct_ids=size.refused_for_cap,
                    message=(
                        f"The cluster holds {size.counted} of the {IDENTITY_CLUSTER_MAX_IDS} ids "
                        "the cap allows; links into it were refused."
                        if size.refused_for_cap
                        else f"The cluster holds the {IDENTITY_CLUSTER_MAX_IDS} ids the cap "
                        "allows: later links into it will be refused."
                    ),
                )
            )
    return flags


def record_ends(record: IdentityLinkRecord) -> tuple[str, str]:
    return record.distinct_id, record.canonical_id


def _root_of_record(record: IdentityLinkRecord, root_of: dict[str, str]) -> str:
    return root_of.get(record.canonical_id) or root_of.get(record.distinct_id) or ""


def _densest_window(records: list[IdentityLinkRecord]) -> list[IdentityLinkRecord]:
    """The most records whose first sight falls within one PUBLIC_BURST_WINDOW."""
    ordered = sorted(records, key=lambda record: record.first_seen_at)
    best: list[IdentityLinkRecord] = []
    start = 0
    for end, record in enumerate(ordered):
        while record.first_seen_at - ordered[start].first_seen_at > PUBLIC_BURST_WINDOW:
            start += 1
        if end - start + 1 > len(best):
            best = ordered[start : end + 1]
    return best


def cluster_sizes(
    *, project: Project, resolution: SubjectResolution, records: list[IdentityLinkRecord]
) -> list[ClusterSize]:
    """(root, members, what the cap counts, ids refused for the cap) of each given id's flat
    cluster."""
    roots = list(dict.fromkeys(resolution.roots.values()))
    counted: dict[str, int] = {}
    if project.identity_links_from == IdentityLinksFrom.AUTHENTICATED:
        for chunk in in_chunks(roots):
            per_root = (
                IdentityLink.objects.filter(
                    project_id=project.pk, canonical_id__in=chunk, authenticated=True
                )
                .order_by()
                .values("canonical_id")
                .annotate(rows=Count("id"))
                .values_list("canonical_id", "rows")
            )
            counted.update(per_root)
    sizes: list[ClusterSize] = []
    for root in roots:
        members = resolution.clusters[root]
        inside = set(members)
        refused = sorted(
            {
                record.distinct_id if record.canonical_id in inside else record.canonical_id
                for record in records
                if record.outcome == LinkRecordOutcome.REFUSED
                and record.reason in _CAP_REFUSALS
                and (record.canonical_id in inside or record.distinct_id in inside)
            }
        )
        if project.identity_links_from == IdentityLinksFrom.AUTHENTICATED:
            weight = 1 + counted.get(root, 0)
        else:
            weight = len(members)
        sizes.append(
            ClusterSize(
                root=root, members=len(members), counted=weight, refused_for_cap=tuple(refused)
            )
        )
    return sizes
