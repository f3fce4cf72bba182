"""Staff looking at end users' data in the back office: each look is audited (DESIGN section 9).

The entry names the staff user, the record and the end user, the latter only as
HMAC(PRIVACY_PII_KEY, project ‖ id): the audit trail never holds a raw distinct_id.
"""

from accounts.actors import Actor
from privacy_requests.audit import audit_append, subject_hmac
from privacy_requests.models import AuditAction, AuditEntry
from privacy_requests.permissions import actor_require
from projects.models import Event, GroupProfile, IdentityLink, Profile, Project


def end_user_data_view_record(
    *, actor: Actor, record: Event | Profile | IdentityLink | GroupProfile
) -> AuditEntry:
    """Audits that `actor` (staff) opened an Event, Profile, IdentityLink or GroupProfile."""
    project = Project.objects.only("id", "organization_id").get(id=record.project_id)
    actor_require(actor=actor, project=project)
    detail: dict[str, object] = {
        "model": record._meta.label_lower,
        "id": record.pk,
        "project": project.id,
    }
    if isinstance(record, GroupProfile):
        # A group id may name a person (a user id used as a group): kept as HMAC too.
        detail["group_key"] = record.group_key
        detail["group_id_hmac"] = subject_hmac(project_id=project.id, distinct_id=record.group_id)
    else:
        detail["distinct_id_hmac"] = subject_hmac(
            project_id=project.id, distinct_id=record.distinct_id
        )
    canonical_id = getattr(record, "canonical_id", None)
    if canonical_id is not None:
        detail["canonical_id_hmac"] = subject_hmac(project_id=project.id, distinct_id=canonical_id)
    return audit_append(
        organization_id=project.organization_id,
        actor=actor.text,
        action=AuditAction.STAFF_VIEWED_END_USER_DATA,
        detail=detail,
    )
