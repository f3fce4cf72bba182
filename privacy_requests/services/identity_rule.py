"""A project's identity link rule (DESIGN section 3): `any` (Mixpanel's behaviour: every link
forms clusters) or `authenticated` (only links from authenticated ingestion do; public links are
kept as unverified evidence). The rule lives on `projects.Project`; changing it is audited in the
organization's chain, which privacy_requests owns, so the service lives here, as suppression's
does.

Nothing is rewritten when the rule changes: requests resolve their subject set by the rule in
force when they start (projects.identity_resolution), and ingestion applies it to later links.
"""

from django.db import transaction

from accounts.actors import Actor
from privacy_requests.audit import audit_append
from privacy_requests.errors import InvalidRequest
from privacy_requests.models import AuditAction
from privacy_requests.permissions import actor_require
from projects.identity import identity_writes_lock
from projects.models import IdentityLinksFrom, Project


def identity_links_from_set(*, project: Project, actor: Actor, rule: str) -> bool:
    """Sets which ingestion's identity links form the project's clusters; True when it
    changed (audited), False when it already was `rule` (nothing written)."""
    actor_require(actor=actor, project=project)
    if rule not in IdentityLinksFrom.values:
        raise InvalidRequest(
            f"identity_links_from must be one of {', '.join(IdentityLinksFrom.values)}.",
            field="identity_links_from",
        )
    with transaction.atomic():
        # Ingestion reads the rule under this lock: a batch in flight finishes under the old
        # rule, every later one sees the new.
        identity_writes_lock(project_id=project.pk)
        # FOR NO KEY UPDATE, as submission's: it changes no key, so it must not block the
        # key-share lock every commit of a row referencing the project takes (issue 16).
        locked = (
            Project.objects.select_for_update(no_key=True)
            .only("identity_links_from")
            .get(pk=project.pk)
        )
        previous = locked.identity_links_from
        if previous == rule:
            project.identity_links_from = rule
            return False
        Project.objects.filter(pk=project.pk).update(identity_links_from=rule)
        audit_append(
            organization_id=project.organization_id,
            actor=actor.text,
            action=AuditAction.IDENTITY_LINKS_RULE_CHANGED,
            detail={"project": project.pk, "from": previous, "to": rule},
        )
    project.identity_links_from = rule
    return True
