"""Looking up the end user behind a request (issue 18), from the pages or the API. A lookup
reads personal data (whose profile holds this email?), so each one is audited in the
organization's chain: who searched, in which project, which property, and what it found, with
the searched value and the ids found as HMACs (the chain is kept for ever; the person it names
may ask to be deleted)."""

from accounts.actors import Actor
from privacy_requests.audit import audit_append, subject_hmac
from privacy_requests.models import AuditAction
from privacy_requests.permissions import actor_require
from projects.end_user_lookup import EMAIL, LookupQuery, LookupResult, end_user_lookup_find
from projects.models import Project


def end_user_lookup(*, actor: Actor, project: Project, query: LookupQuery) -> LookupResult:
    """The project's end users matching `query` (projects.end_user_lookup), for an owner or
    admin of its organization (or an admin service account granted it); raises NotAllowed
    for anyone else, before anything is read."""
    actor_require(actor=actor, project=project)
    result = end_user_lookup_find(project=project, query=query)
    # The same address in any case is one value, as the lookup matched it.
    searched_value = query.value.lower() if query.property == EMAIL else query.value
    audit_append(
        organization_id=project.organization_id,
        actor=actor.text,
        action=AuditAction.END_USER_LOOKED_UP,
        detail={
            "project": project.pk,
            "searched": query.searched,
            "value_hmac": subject_hmac(project_id=project.pk, distinct_id=searched_value),
            "matched": len(result.matched),
            "more": result.more,
            "matched_hmacs": [
                subject_hmac(project_id=project.pk, distinct_id=distinct_id)
                for distinct_id in result.matched
            ],
        },
    )
    return result
