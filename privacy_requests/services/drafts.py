"""Deletion drafts (DESIGN section 9): a deletion is previewed before it is submitted.

The parsed ids wait in a `DeletionDraft` owned by the user who uploaded them, for 15 minutes at
most. The preview page shows what they resolve to; confirming posts only the draft's id, and the
draft is consumed in the transaction that submits the request, so a double click submits once.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from privacy_requests.errors import NotAllowed
from privacy_requests.models import Channel, DeletionDraft, PrivacyRequest, RequestKind
from privacy_requests.permissions import actor_require
from privacy_requests.services.submission import distinct_ids_normalize, privacy_request_submit
from projects.models import Project

DRAFT_LIFETIME = timedelta(minutes=15)


class DraftGone(Exception):
    """The draft expired, was used already, or is not this user's."""


def deletion_drafts_purge_expired(*, now: datetime | None = None) -> int:
    """Drops expired drafts and the raw ids they hold; returns how many."""
    deleted, _ = DeletionDraft.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def deletion_draft_create(
    *, actor: Actor, project: Project, compliance: str, distinct_ids: Sequence[str]
) -> DeletionDraft:
    actor_require(actor=actor, project=project)
    if actor.user is None:
        raise NotAllowed("A deletion preview belongs to the person who asked for it.")
    ids = distinct_ids_normalize(list(distinct_ids))
    now = timezone.now()
    deletion_drafts_purge_expired(now=now)
    return DeletionDraft.objects.create(
        user=actor.user,
        organization_id=project.organization_id,
        project=project,
        compliance=compliance,
        distinct_ids=ids,
        created_at=now,
        expires_at=now + DRAFT_LIFETIME,
    )


def deletion_draft_confirm(
    *, draft: DeletionDraft, actor: Actor, site_url: str = ""
) -> PrivacyRequest:
    """Submits the draft's deletion and consumes the draft; raises DraftGone when another
    request (a second click) consumed it first, or it expired meanwhile."""
    with transaction.atomic():
        locked = (
            DeletionDraft.objects.select_for_update()
            .filter(id=draft.id, user=actor.user, expires_at__gt=timezone.now())
            .first()
        )
        if locked is None:
            raise DraftGone
        request = privacy_request_submit(
            project=draft.project,
            actor=actor,
            channel=Channel.WEB,
            kind=RequestKind.DELETION,
            compliance=locked.compliance,
            distinct_ids=locked.distinct_ids,
            site_url=site_url,
        )
        locked.delete()
    return request
