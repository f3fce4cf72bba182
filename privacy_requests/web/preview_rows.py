"""The preview page's rows (issue 14): a request's review, grouped by the person it reaches,
in words a person reviewing it reads. Presentation only; the review is projects.identity_review.
"""

from dataclasses import dataclass, field

from privacy_requests.selectors import RequestPreview
from projects.identity_review import LinkHow, ReviewedId
from projects.models import IdentityKind, LinkRecordOutcome, LinkRefusal

# A CSV may reach thousands of ids; the page lists this many reached ids, and as many
# candidates (a full cluster must not hide the refused device the person looks for), and
# counts the rest.
ROWS_SHOWN = 500

_KIND_WORDS = {
    IdentityKind.ALIAS: "alias",
    IdentityKind.MERGE: "merge",
    IdentityKind.IDENTIFY: "identify",
    IdentityKind.DEVICE: "device id",
}
_FLAG_WORDS = {
    "active_ids_joined_publicly": "public link joined two active ids",
    "public_link_burst": "burst of public links",
    "cluster_at_cap": "cluster at its cap",
}


@dataclass(frozen=True)
class PreviewRow:
    distinct_id: str
    role: str
    how: str
    events: int
    profile: bool
    flags: tuple[str, ...]
    # The checkbox a person may tick: "leave_out" for a linked id, "include" for a candidate.
    choice: str = ""
    chosen: bool = False


@dataclass
class PreviewPerson:
    root: str
    rows: list[PreviewRow] = field(default_factory=list)


@dataclass(frozen=True)
class PreviewPage:
    no_data: list[str]
    people: list[PreviewPerson]
    candidates: list[PreviewRow]
    flags: list[tuple[str, str]]
    at_cap: int
    hidden: int


def provenance_text(how: LinkHow | None) -> str:
    """One link in words: "alias of x · public (project token only) · /track · 2026-12-01
    10:00 UTC"."""
    if how is None:
        return ""
    parts = [f"{_KIND_WORDS.get(how.kind, how.kind)} with {how.other_id!r}"]
    if how.authenticated is None:
        parts.append("made before provenance was recorded")
    else:
        parts.append("authenticated" if how.authenticated else "public (project token only)")
    if how.endpoint:
        parts.append(how.endpoint)
    parts.append(how.at.strftime("%Y-%m-%d %H:%M UTC"))
    if how.outcome == LinkRecordOutcome.REFUSED:
        reason = LinkRefusal(how.reason).label if how.reason in LinkRefusal.values else how.reason
        parts.append(f"refused: {reason}" if reason else "refused")
    elif how.outcome == LinkRecordOutcome.UNVERIFIED:
        parts.append("unverified: the project forms clusters from authenticated links only")
    if how.count > 1:
        parts.append(f"seen {how.count} times")
    return " · ".join(parts)


def _row(reviewed: ReviewedId, *, role: str, choice: str = "") -> PreviewRow:
    if reviewed.evidence:
        how = "; ".join(provenance_text(found) for found in reviewed.evidence)
    else:
        how = provenance_text(reviewed.how)
    return PreviewRow(
        distinct_id=reviewed.distinct_id,
        role=role,
        how=how,
        events=reviewed.events,
        profile=reviewed.profile,
        flags=tuple(_FLAG_WORDS.get(code, code) for code in reviewed.flags),
        choice=choice,
        chosen=reviewed.left_out if choice == "leave_out" else reviewed.included,
    )


def preview_page(preview: RequestPreview) -> PreviewPage:
    review = preview.review
    no_data = review.no_data
    lone = set(no_data)
    people: dict[str, PreviewPerson] = {}
    shown = hidden = 0

    def add(person: PreviewPerson, row: PreviewRow) -> None:
        nonlocal shown, hidden
        if shown < ROWS_SHOWN:
            person.rows.append(row)
            shown += 1
        else:
            hidden += 1

    for given in review.given:
        if given.distinct_id in lone:
            continue
        person = people.setdefault(given.root, PreviewPerson(root=given.root))
        add(person, _row(given, role="given"))
    for linked in review.linked:
        person = people.setdefault(linked.root, PreviewPerson(root=linked.root))
        add(person, _row(linked, role="linked", choice="leave_out"))
    candidates = []
    for candidate in review.candidates:
        role = "refused link" if candidate.role == LinkRecordOutcome.REFUSED else "unverified link"
        if len(candidates) < ROWS_SHOWN:
            candidates.append(_row(candidate, role=role, choice="include"))
        else:
            hidden += 1
    return PreviewPage(
        no_data=no_data,
        people=[person for person in people.values() if person.rows],
        candidates=candidates,
        flags=[(_FLAG_WORDS.get(flag.code, flag.code), flag.message) for flag in review.flags],
        at_cap=sum(cluster.at_cap for cluster in review.clusters),
        hidden=hidden,
    )
