"""Request drafts (DESIGN section 9): every request made on the pages is previewed before it is
submitted, exports as deletions.

The parsed ids wait in a `RequestDraft` owned by the user who uploaded them, for 15 minutes at
most. The preview page shows what they reach and lets the person leave linked ids out and
include ids whose links were refused or are unverified (the decisions wait in the draft too);
confirming posts only the draft's id, and the draft is consumed in the transaction that
submits the request and records its decisions, so a double click submits once.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from privacy_requests.deletions.scope import deletion_scope_parse
from privacy_requests.errors import NotAllowed
from privacy_requests.models import (
    Channel,
    Compliance,
    Disclosure,
    PrivacyRequest,
    RequestDraft,
    RequestKind,
)
from privacy_requests.permissions import actor_require
from privacy_requests.services.subject_decisions import (
    privacy_request_subjects_decide,
    subject_decisions_check,
)
from privacy_requests.services.submission import distinct_ids_normalize, privacy_request_submit
from projects.models import Project

DRAFT_LIFETIME = timedelta(minutes=15)


class DraftGone(Exception):
    """The draft expired, was used already, or is not this user's."""


def request_drafts_purge_expired(*, now: datetime | None = None) -> int:
    """Drops expired drafts and the raw ids they hold; returns how many."""
    deleted, _ = RequestDraft.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def request_draft_create(
    *,
    actor: Actor,
    project: Project,
    kind: str,
    compliance: str,
    distinct_ids: Sequence[str],
    disclosure: str = "",
    categories: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> RequestDraft:
    actor_require(actor=actor, project=project)
    if actor.user is None:
        raise NotAllowed("A preview belongs to the person who asked for it.")
    ids = distinct_ids_normalize(list(distinct_ids))
    disclosure = disclosure or Disclosure.DATA
    # Checked now, as the submit will check it, so the form shows the error.
    scope = deletion_scope_parse(
        kind=kind,
        compliance=compliance,
        disclosure=disclosure,
        categories=list(categories) if categories else None,
        sources=list(sources) if sources else None,
    )
    if kind == RequestKind.DELETION and compliance != Compliance.CCPA:
        disclosure = Disclosure.DATA
    now = timezone.now()
    request_drafts_purge_expired(now=now)
    return RequestDraft.objects.create(
        user=actor.user,
        organization_id=project.organization_id,
        project=project,
        kind=kind,
        compliance=compliance,
        disclosure=disclosure,
        scope=scope,
        distinct_ids=ids,
        created_at=now,
        expires_at=now + DRAFT_LIFETIME,
    )


def request_draft_decide(
    *, draft: RequestDraft, actor: Actor, left_out: Sequence[str], included: Sequence[str]
) -> bool:
    """Stores the preview's decisions on the draft (checked as a request's would be: see
    privacy_request_subjects_decide); returns whether they changed. Raises DraftGone."""
    actor_require(actor=actor, project=draft.project)
    left, wanted = subject_decisions_check(
        project=draft.project, distinct_ids=draft.distinct_ids, left_out=left_out, included=included
    )
    with transaction.atomic():
        locked = _draft_lock(draft, actor)
        if sorted(locked.left_out) == left and sorted(locked.included) == wanted:
            return False
        locked.left_out, locked.included = sorted(left), sorted(wanted)
        locked.save(update_fields=["left_out", "included"])
    draft.left_out, draft.included = locked.left_out, locked.included
    return True


def request_draft_confirm(
    *, draft: RequestDraft, actor: Actor, site_url: str = ""
) -> PrivacyRequest:
    """Submits the draft's request with its decisions and consumes the draft; raises DraftGone
    when another request (a second click) consumed it first, or it expired meanwhile. The
    decisions are stored (and audited) in the submitting transaction, so the job, enqueued
    when it commits, never runs without them."""
    with transaction.atomic():
        locked = _draft_lock(draft, actor)
        request = privacy_request_submit(
            project=locked.project,
            actor=actor,
            channel=Channel.WEB,
            kind=locked.kind,
            compliance=locked.compliance,
            disclosure=locked.disclosure or None,
            # A draft's scope is [] but for a deletion by categories or sources.
            categories=(locked.scope or None)
            if locked.disclosure == Disclosure.CATEGORIES
            else None,
            sources=(locked.scope or None) if locked.disclosure == Disclosure.SOURCES else None,
            distinct_ids=locked.distinct_ids,
            site_url=site_url,
            left_out=locked.left_out,
            included=locked.included,
        )
        if locked.left_out or locked.included:
            privacy_request_subjects_decide(
                privacy_request=request,
                actor=actor,
                left_out=locked.left_out,
                included=locked.included,
            )
        locked.delete()
    return request


def _draft_lock(draft: RequestDraft, actor: Actor) -> RequestDraft:
    locked = (
        RequestDraft.objects.select_for_update()
        .select_related("project")
        .filter(id=draft.id, user=actor.user, expires_at__gt=timezone.now())
        .first()
    )
    if locked is None:
        raise DraftGone
    return locked
