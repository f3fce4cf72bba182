"""Suppression of deleted ids (DESIGN section 5.3): per project, off by default, as in Mixpanel.

When a project suppresses deleted ids, a deletion stores every id of its subject set as
HMAC(PRIVACY_PII_KEY, project ‖ id) in `SuppressedId`, and ingestion
(projects.ingestion.suppression) drops and counts any later record of them. Turning the switch
off keeps the stored HMACs but ingestion stops consulting them; turning it on again suppresses
the same ids again. Lifting the suppression of one id removes its HMAC, audited.
"""

from collections.abc import Sequence

from django.db import transaction

from accounts.actors import Actor
from privacy_requests.audit import audit_append
from privacy_requests.models import AuditAction, PrivacyRequest
from privacy_requests.permissions import actor_require
from projects.models import Project, SuppressedId
from projects.pii import distinct_id_hmac


def suppressed_ids_store(*, project_id: int, request_id: int, distinct_ids: Sequence[str]) -> None:
    """Stores the HMACs of these ids; ids already suppressed keep their first request."""
    rows = [
        SuppressedId(
            project_id=project_id,
            id_hmac=distinct_id_hmac(project_id=project_id, distinct_id=distinct_id),
            request_id=request_id,
        )
        for distinct_id in distinct_ids
    ]
    SuppressedId.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


def suppression_lift(*, project: Project, distinct_id: str, actor: Actor) -> bool:
    """Lets ingestion accept this id again; False when it was not suppressed (nothing audited)."""
    actor_require(actor=actor, project=project)
    id_hmac = distinct_id_hmac(project_id=project.pk, distinct_id=distinct_id)
    with transaction.atomic():
        removed, _ = SuppressedId.objects.filter(project=project, id_hmac=id_hmac).delete()
        if not removed:
            return False
        audit_append(
            organization_id=project.organization_id,
            actor=actor.text,
            action=AuditAction.SUPPRESSION_LIFTED,
            detail={"project": project.pk, "id_hmac": id_hmac},
        )
    return True


def suppression_set(*, project: Project, actor: Actor, enabled: bool) -> bool:
    """Turns the project's suppression of deleted ids on or off; True when it changed."""
    actor_require(actor=actor, project=project)
    with transaction.atomic():
        changed = Project.objects.filter(id=project.pk, suppress_deleted_ids=not enabled).update(
            suppress_deleted_ids=enabled
        )
        if changed:
            audit_append(
                organization_id=project.organization_id,
                actor=actor.text,
                action=(
                    AuditAction.SUPPRESSION_ENABLED if enabled else AuditAction.SUPPRESSION_DISABLED
                ),
                detail={"project": project.pk},
            )
    project.suppress_deleted_ids = enabled
    return bool(changed)


def suppressed_ids_recent(*, project: Project, limit: int = 50) -> list[dict]:
    """The latest suppressed ids of the project, as people may see them: a fingerprint of the
    HMAC (the raw id is never kept), when, and by which deletion."""
    rows = list(
        SuppressedId.objects.filter(project=project)
        .order_by("-created_at", "-id")
        .values("id_hmac", "created_at", "request_id")[:limit]
    )
    tracking_ids: dict[int | None, str] = dict(
        PrivacyRequest.objects.filter(id__in={row["request_id"] for row in rows}).values_list(
            "id", "tracking_id"
        )
    )
    return [
        {
            "fingerprint": row["id_hmac"][:12],
            "created_at": row["created_at"],
            "tracking_id": tracking_ids.get(row["request_id"], ""),
        }
        for row in rows
    ]
