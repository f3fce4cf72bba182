"""Records of distinct_ids that a deletion suppressed are dropped at the door."""

from collections.abc import Iterable

from projects.models import Project, SuppressedId
from projects.pii import distinct_id_hmac


def suppressed_ids_find(*, project: Project, distinct_ids: Iterable[str]) -> set[str]:
    """Those of `distinct_ids` that are suppressed in the project: one indexed query, none when
    the project does not suppress deleted ids."""
    if not project.suppress_deleted_ids:
        return set()
    by_hmac = {
        distinct_id_hmac(project_id=project.pk, distinct_id=distinct_id): distinct_id
        for distinct_id in set(distinct_ids)
    }
    if not by_hmac:
        return set()
    found = SuppressedId.objects.filter(project=project, id_hmac__in=list(by_hmac)).values_list(
        "id_hmac", flat=True
    )
    return {by_hmac[id_hmac] for id_hmac in found}
