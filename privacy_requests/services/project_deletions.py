"""A project's deletion in its organization's audit chain (projects.deletion_record)."""

from accounts.actors import Actor
from privacy_requests.audit import audit_append
from privacy_requests.models import AuditAction
from projects.deletion_record import ProjectDeleted


def project_deletion_audit(*, actor: Actor, deleted: ProjectDeleted) -> None:
    """Which project (id and name) and how many store rows went, by table: counts only, no
    end user's id."""
    audit_append(
        organization_id=deleted.organization_id,
        actor=actor.text,
        action=AuditAction.PROJECT_DELETED,
        detail={
            "project_id": deleted.project_id,
            "project": deleted.name,
            "removed": deleted.removed,
        },
    )
