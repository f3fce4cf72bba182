from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.models import Organization, ServiceAccount, User
from projects.chunking import in_chunks
from projects.models import IdentityLink, Project, RefusedRecordCount, ServiceAccountProject

REFUSALS_WINDOW = timedelta(hours=24)


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Every project of every organization the user belongs to, whatever their role."""
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    return (
        Project.objects.filter(organization__memberships__user=user)
        .select_related("organization")
        .order_by("organization__name", "organization_id", "name")
    )


def project_get_for_user(*, user: User, project_id: int) -> Project | None:
    """The project if the user is a member of its organization; None (answer 404) otherwise."""
    return project_list_for_user(user=user).filter(id=project_id).first()


def project_get_by_token(*, token: str) -> Project | None:
    if not token or len(token) > 64 or "\x00" in token:  # PostgreSQL refuses NUL even to compare
        return None
    return Project.objects.select_related("organization").filter(token=token).first()


def project_list_for_organization(*, organization: Organization) -> QuerySet[Project]:
    return Project.objects.filter(organization=organization).order_by("name", "id")


def project_get_for_service_account(
    *, service_account: ServiceAccount, project_id: int
) -> Project | None:
    """The project if it is granted to the service account (and of its organization); None
    otherwise. The caller has checked the account is usable."""
    return (
        Project.objects.select_related("organization")
        .filter(
            id=project_id,
            organization_id=service_account.organization_id,
            service_account_grants__service_account=service_account,
        )
        .first()
    )


def service_account_is_granted(*, service_account: ServiceAccount, project: Project) -> bool:
    return (
        project.organization_id == service_account.organization_id
        and ServiceAccountProject.objects.filter(
            service_account=service_account, project=project
        ).exists()
    )


def service_account_projects(
    *, service_accounts: Sequence[ServiceAccount]
) -> dict[int, list[Project]]:
    """Each account's granted projects, by name, in one query."""
    granted: dict[int, list[Project]] = {account.id: [] for account in service_accounts}
    grants = (
        ServiceAccountProject.objects.filter(service_account__in=list(service_accounts))
        .select_related("project")
        .order_by("project__name", "project_id")
    )
    for grant in grants:
        granted[grant.service_account_id].append(grant.project)
    return granted


def identity_clusters_by_root(
    *, project_id: int, distinct_ids: Sequence[str]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The flat clusters of these ids: each id's root (itself when it has no link), and each
    root's members, the root included, sorted. Ids are verbatim; duplicates collapse, and the
    first map keeps first-seen order. Two queries per 1,000 ids, whatever the clusters' sizes.
    """
    unique = list(dict.fromkeys(distinct_ids))
    root_of: dict[str, str] = {}
    for chunk in in_chunks(unique):
        root_of.update(
            IdentityLink.objects.filter(project_id=project_id, distinct_id__any=chunk).values_list(
                "distinct_id", "canonical_id"
            )
        )
    roots = list(dict.fromkeys(root_of.get(distinct_id, distinct_id) for distinct_id in unique))
    members: dict[str, list[str]] = {root: [root] for root in roots}
    for chunk in in_chunks(roots):
        rows = IdentityLink.objects.filter(project_id=project_id, canonical_id__any=chunk)
        for distinct_id, root in rows.values_list("distinct_id", "canonical_id"):
            members[root].append(distinct_id)
    for cluster in members.values():
        cluster.sort()
    return {distinct_id: root_of.get(distinct_id, distinct_id) for distinct_id in unique}, members


def identity_clusters_resolve(
    *, project_id: int, distinct_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Maps each given distinct_id to every id of its flat identity cluster, itself included.

    Ids are case-sensitive and used verbatim; duplicates collapse, and the keys keep first-seen
    order. Each list is sorted, so all members of one cluster get equal lists; an id with no
    links maps to `[itself]`. Two queries per 1,000 ids, whatever the size of the clusters.
    This is every formed link, whatever the project's rule: a request's subject set is
    projects.identity_resolution's.
    """
    root_of, members = identity_clusters_by_root(project_id=project_id, distinct_ids=distinct_ids)
    return {distinct_id: list(members[root]) for distinct_id, root in root_of.items()}


def identity_subject_set(*, project_id: int, distinct_ids: Sequence[str]) -> list[str]:
    """The union of the identity clusters of the given ids: the subject set of a privacy request.

    The given ids come first, deduplicated in first-seen order; then the ids linked to them,
    sorted.
    """
    clusters = identity_clusters_resolve(project_id=project_id, distinct_ids=distinct_ids)
    given = set(clusters)
    linked = {member for cluster in clusters.values() for member in cluster} - given
    return [*clusters, *sorted(linked)]


@dataclass(frozen=True)
class RefusalTally:
    endpoint: str
    reason: str
    count: int


def refused_records_recent(*, project: Project, now: datetime | None = None) -> list[RefusalTally]:
    """The records ingestion refused for the project over the last 24 hours (the counters of
    the hours that began in them), by endpoint and reason, most frequent first."""
    since = (now or timezone.now()) - REFUSALS_WINDOW
    rows = (
        RefusedRecordCount.objects.filter(project=project, hour__gt=since)
        .values("endpoint", "reason")
        .annotate(total=Sum("count"))
        .order_by("-total", "endpoint", "reason")
    )
    return [
        RefusalTally(endpoint=row["endpoint"], reason=row["reason"], count=row["total"])
        for row in rows
    ]
