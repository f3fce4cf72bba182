"""Reads of privacy requests. Every interface reaches a request through these access functions,
so the pages, the API and the permission function see exactly the same requests."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.selectors import MANAGER_ROLES
from privacy_requests.exports.downloads import export_download_url
from privacy_requests.models import (
    UNFINISHED_STATUSES,
    AuditEntry,
    PrivacyRequest,
    RequestDraft,
    RequestKind,
    RequestSubject,
    Status,
    SubjectDecision,
    tracking_id_can_exist,
)
from projects.chunking import in_chunks
from projects.identity_review import IdentityReview, identity_review
from projects.models import Project
from projects.pii import distinct_id_hmac
from projects.store import rows_count


def _privacy_requests() -> QuerySet[PrivacyRequest]:
    return PrivacyRequest.objects.select_related("project", "organization")


def privacy_request_list_for_user(*, user: User) -> QuerySet[PrivacyRequest]:
    """Requests of every organization where the user is an owner or admin."""
    if not user.is_authenticated or not user.is_active:
        return PrivacyRequest.objects.none()
    return _privacy_requests().filter(
        organization__memberships__user=user, organization__memberships__role__in=MANAGER_ROLES
    )


def privacy_request_get_for_user(*, user: User, tracking_id: str) -> PrivacyRequest | None:
    """The request if the user may act on it; None (answer 404) otherwise."""
    if not tracking_id_can_exist(tracking_id):
        return None
    return privacy_request_list_for_user(user=user).filter(tracking_id=tracking_id).first()


def privacy_request_get_for_project(
    *, project: Project, kind: RequestKind | str, tracking_id: str
) -> PrivacyRequest | None:
    """The project's request of this kind; None (answer 404) otherwise. Who may act on it is
    the caller's next check (the API answers 404 before 403)."""
    if not tracking_id_can_exist(tracking_id):
        return None
    return _privacy_requests().filter(project=project, kind=kind, tracking_id=tracking_id).first()


def privacy_request_list_for_organization(
    *,
    user: User,
    organization: Organization,
    project: Project | None = None,
    status: str = "",
    kind: str = "",
    search: str = "",
) -> QuerySet[PrivacyRequest]:
    requests = privacy_request_list_for_user(user=user).filter(organization=organization)
    if project is not None:
        requests = requests.filter(project=project)
    if status:
        requests = requests.filter(status=status)
    if kind:
        requests = requests.filter(kind=kind)
    if search.strip():
        requests = requests.filter(
            privacy_request_search_q(organization=organization, search=search)
        )
    return requests.order_by("-received_at", "-id")


def privacy_request_search_q(*, organization: Organization, search: str) -> Q:
    """Requests that were given `search` as a distinct_id (exactly: ids are case-sensitive and
    their spaces count), or whose tracking id begins with it (the pages show its first
    characters). A given id pseudonymized 30 days after its request ended is found through its
    HMAC, computed for each of the organization's projects. The id match goes through the
    index on RequestSubject.distinct_id, never a scan of the subjects."""
    project_ids = (
        PrivacyRequest.objects.filter(
            organization=organization, subjects_pseudonymized_at__isnull=False
        )
        .order_by()
        .values_list("project_id", flat=True)
        .distinct()
    )
    hmacs = {
        distinct_id_hmac(project_id=project_id, distinct_id=search): project_id
        for project_id in project_ids
    }
    matched = Q(
        id__in=RequestSubject.objects.filter(
            distinct_id=search, linked=False, request__organization=organization
        ).values("request_id")
    )
    for value, project_id in hmacs.items():
        matched |= Q(
            id__in=RequestSubject.objects.filter(
                distinct_id=value,
                linked=False,
                request__project_id=project_id,
                request__subjects_pseudonymized_at__isnull=False,
            ).values("request_id")
        )
    prefix = search.strip()
    if tracking_id_can_exist(prefix):
        matched |= Q(tracking_id__startswith=prefix)
    return matched


def privacy_organizations_for_user(*, user: User) -> QuerySet[Organization]:
    """Organizations whose privacy requests this user may see (owner or admin)."""
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    return Organization.objects.filter(
        memberships__user=user, memberships__role__in=MANAGER_ROLES
    ).order_by("name", "id")


def organization_role(*, user: User, organization: Organization) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    return (
        Membership.objects.filter(user=user, organization=organization)
        .values_list("role", flat=True)
        .first()
    )


def privacy_request_result_url(*, request: PrivacyRequest, absolute_base: str) -> str:
    """The signed link to the export or the deletion receipt, or "" while there is none."""
    return export_download_url(request, absolute_base=absolute_base)


def privacy_request_subject_results(
    *, request: PrivacyRequest, absolute_base: str | None = None
) -> list[dict]:
    """An export's package per subject (issue 17): the subject's first given id, the ids its
    package reached (given first) and its signed link ("" once the files are gone), in the
    order of the given ids; empty for requests without such packages."""
    if request.kind != RequestKind.EXPORT or not request.result_packages:
        return []
    missing = set(request.not_found or [])
    results: dict[int, dict] = {}
    rows = (
        request.subjects.filter(package__isnull=False)
        .order_by("position")
        .values_list("distinct_id", "package")
    )
    for distinct_id, package in rows:
        result = results.get(package or 0)
        if result is None:
            result = results[package or 0] = {
                "distinct_id": distinct_id,
                "reached_distinct_ids": [],
                "result": export_download_url(request, absolute_base=absolute_base, number=package),
            }
        if distinct_id not in missing:
            result["reached_distinct_ids"].append(distinct_id)
    return list(results.values())


def privacy_request_given_ids(*, request: PrivacyRequest) -> list[str]:
    """The distinct_ids the requester gave, in their order (not the linked ones)."""
    return list(
        request.subjects.filter(linked=False)
        .order_by("position")
        .values_list("distinct_id", flat=True)
    )


def privacy_request_reached_ids(*, request: PrivacyRequest) -> list[str]:
    """The ids a finished (SUCCESS or FAILURE) request reached: its subject set as the job
    recorded it (given ids, then linked and included ones) less the given ids that had no data;
    empty before it finishes. HMACs once its subjects are pseudonymized, as its given ids are."""
    if request.status not in (Status.SUCCESS, Status.FAILURE):
        return []
    if request.snapshot_at is None:
        return []
    missing = set(request.not_found or [])
    return [
        distinct_id
        for distinct_id in request.subjects.order_by("position").values_list(
            "distinct_id", flat=True
        )
        if distinct_id not in missing
    ]


def privacy_request_decisions(*, request: PrivacyRequest) -> list[SubjectDecision]:
    """A person's decisions on the request's subject set (left out, included), by id."""
    return list(request.decisions.order_by("distinct_id"))


def given_id_counts(request_ids: Sequence[int]) -> dict[int, int]:
    """How many distinct_ids each request was given (linked ids found later not counted)."""
    rows = (
        RequestSubject.objects.filter(request_id__in=list(request_ids), linked=False)
        .values("request_id")
        .annotate(ids=Count("id"))
        .values_list("request_id", "ids")
    )
    return dict(rows)


@dataclass(frozen=True)
class GivenIds:
    """The first given ids of a request, for a list's subject column, and how many there are.
    `pseudonymized`: the ids were replaced by HMACs, which `first` then holds and no page
    shows as ids."""

    first: list[str]
    count: int
    pseudonymized: bool

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.first))


SUBJECTS_IN_LIST = 2


def given_ids_shown(requests: Sequence[PrivacyRequest]) -> dict[int, GivenIds]:
    """Each request's first two given ids (by position: the order given) and its count, in two
    queries for a page of requests."""
    counts = given_id_counts([request.id for request in requests])
    first: dict[int, list[str]] = {}
    rows = (
        RequestSubject.objects.filter(
            request_id__in=[request.id for request in requests],
            linked=False,
            position__lt=SUBJECTS_IN_LIST,
        )
        .order_by("request_id", "position")
        .values_list("request_id", "distinct_id")
    )
    for request_id, distinct_id in rows:
        first.setdefault(request_id, []).append(distinct_id)
    return {
        request.id: GivenIds(
            first=first.get(request.id, []),
            count=counts.get(request.id, 0),
            pseudonymized=request.subjects_pseudonymized_at is not None,
        )
        for request in requests
    }


def audit_trail(*, request: PrivacyRequest) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(request=request).order_by("seq")


@dataclass(frozen=True)
class DeletionConflict:
    distinct_ids: list[str]
    tracking_ids: list[str]


def deletion_conflicts_find(*, project: Project, distinct_ids: Sequence[str]) -> DeletionConflict:
    """Which of these ids already have an unfinished deletion in the project, in the order
    given, and which requests those are. Only a caller holding the project's row lock (the
    submission service) can rely on the answer staying true."""
    clashes: dict[str, set[str]] = {}
    for chunk in in_chunks(distinct_ids):
        rows = RequestSubject.objects.filter(
            request__project=project,
            request__kind=RequestKind.DELETION,
            request__status__in=UNFINISHED_STATUSES,
            distinct_id__in=chunk,
        ).values_list("distinct_id", "request__tracking_id")
        for distinct_id, tracking_id in rows:
            clashes.setdefault(distinct_id, set()).add(tracking_id)
    return DeletionConflict(
        distinct_ids=[distinct_id for distinct_id in distinct_ids if distinct_id in clashes],
        tracking_ids=sorted(set().union(*clashes.values())) if clashes else [],
    )


def request_draft_get_for_user(
    *, user: User, organization: Organization, draft_id: UUID
) -> RequestDraft | None:
    """The user's own unexpired draft in this organization; None otherwise."""
    return (
        RequestDraft.objects.select_related("project", "organization")
        .filter(id=draft_id, user=user, organization=organization, expires_at__gt=timezone.now())
        .first()
    )


@dataclass(frozen=True)
class RequestPreview:
    """What a request for these ids would reach now, with the decisions given: `review` id by
    id (projects.identity_review); `reached` the ids with data it acts on, `linked` those of
    them that are not given; `subjects` the people among them (a given id with data and its
    linked ids are one subject; given ids in one cluster are one person); the counts are of
    the reached ids' rows."""

    review: IdentityReview
    given: int
    reached: int
    linked: int
    subjects: int
    events: int
    profiles: int
    identity_links: int


def request_preview(
    *,
    project: Project,
    distinct_ids: Sequence[str],
    left_out: Sequence[str] = (),
    included: Sequence[str] = (),
) -> RequestPreview:
    """The preview of a request for these ids (module docstring of projects.identity_review).
    The worker records the subject set again, with the decisions, when it starts."""
    review = identity_review(
        project=project, distinct_ids=distinct_ids, left_out=left_out, included=included
    )
    reached = review.subject_ids
    counts = rows_count(project_id=project.id, distinct_ids=reached)
    no_data = set(review.no_data)
    people = {given.root for given in review.given if given.distinct_id not in no_data}
    people |= {candidate.root for candidate in review.candidates if candidate.included}
    return RequestPreview(
        review=review,
        given=len(distinct_ids),
        # Given ids with no data are searched, and reach nothing.
        reached=len(set(reached) - no_data),
        linked=sum(reviewed.reached for reviewed in [*review.linked, *review.candidates]),
        subjects=len(people),
        events=counts.events,
        profiles=counts.profiles,
        identity_links=counts.identity_links,
    )
