"""A person's decisions about a request's subject set, before it runs (DESIGN section 5.1).

Identity links are evidence, not truth: a person reviewing a request (the preview pages) may
leave out ids the project's rule links to the given ones, and include ids whose links into the
subject's clusters were refused or are unverified. The decisions are stored on the request
(`SubjectDecision`: which id, left out or included, who decided, when), audited in the
organization's chain (ids as HMACs), and applied by the job when it records the subject set
(services/processing.py). Only while the request has not started: once it has, its subject
set is recorded and final.

To decide before a request exists (an export starts at once), submit and decide in one
transaction: the job is enqueued when it commits.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from privacy_requests.audit import audit_append, subject_hmac
from privacy_requests.errors import InvalidRequest, InvalidTransition
from privacy_requests.models import (
    CANCELABLE_STATUSES,
    ApprovalState,
    AuditAction,
    PrivacyRequest,
    SubjectDecision,
    SubjectDecisionKind,
)
from privacy_requests.permissions import actor_require
from privacy_requests.selectors import privacy_request_given_ids
from privacy_requests.services.submission import MAX_DISTINCT_ID_LENGTH
from projects.identity_review import identity_review
from projects.models import Project


@dataclass(frozen=True)
class SubjectDecisions:
    """The request's decisions after the call, sorted, and whether the call changed any."""

    left_out: list[str]
    included: list[str]
    changed: bool


def privacy_request_subjects_decide(
    *,
    privacy_request: PrivacyRequest,
    actor: Actor,
    left_out: Sequence[str],
    included: Sequence[str],
) -> SubjectDecisions:
    """Makes the request's decisions exactly these (ids not named lose their decision; a
    decision that stays keeps who made it and when).

    `left_out` must be ids the project's rule links to the given ids (never a given id);
    `included` ids whose links into the given ids' clusters were refused or are unverified, as
    the review lists them (projects.identity_review). Raises InvalidRequest naming the first
    id that is neither, InvalidTransition once the request has started (or ended).
    """
    actor_require(actor=actor, project=privacy_request.project)
    left, wanted = _ids(left_out, field="left_out"), _ids(included, field="included")
    with transaction.atomic():
        locked = (
            PrivacyRequest.objects.select_for_update()
            .select_related("project")
            .get(id=privacy_request.id)
        )
        if locked.status not in CANCELABLE_STATUSES:
            raise InvalidTransition(
                f"The request is {locked.status}: its subject set was recorded when it started "
                "and can no longer change.",
                status=locked.status,
            )
        if locked.approval_state == ApprovalState.APPROVED:
            # Issue 19: the second person approved this subject set; it no longer changes.
            raise InvalidTransition(
                "This deletion was approved as it is: its subject set can no longer change.",
                status=locked.status,
            )
        left, wanted = subject_decisions_check(
            project=locked.project,
            distinct_ids=privacy_request_given_ids(request=locked),
            left_out=left,
            included=wanted,
        )
        changed = _store(
            locked,
            actor=actor,
            wanted={
                **dict.fromkeys(left, SubjectDecisionKind.LEFT_OUT),
                **dict.fromkeys(wanted, SubjectDecisionKind.INCLUDED),
            },
        )
        if changed:
            project_id = locked.project_id
            audit_append(
                organization_id=locked.organization_id,
                actor=actor.text,
                action=AuditAction.SUBJECTS_DECIDED,
                request=locked,
                detail={
                    "left_out": [
                        subject_hmac(project_id=project_id, distinct_id=i) for i in sorted(left)
                    ],
                    "included": [
                        subject_hmac(project_id=project_id, distinct_id=i) for i in sorted(wanted)
                    ],
                },
            )
    return SubjectDecisions(left_out=sorted(left), included=sorted(wanted), changed=changed)


def subject_decisions_check(
    *,
    project: Project,
    distinct_ids: Sequence[str],
    left_out: Sequence[str],
    included: Sequence[str],
) -> tuple[list[str], list[str]]:
    """The decisions (left out, included) cleaned, if a request for these given ids may make
    them now: raises InvalidRequest naming the first id that is neither (see
    privacy_request_subjects_decide). The preview's drafts check with it too."""
    left, wanted = _ids(left_out, field="left_out"), _ids(included, field="included")
    both = sorted(set(left) & set(wanted))
    if both:
        raise InvalidRequest(
            f"{len(both)} id(s) are both left out and included; choose one.", field="included"
        )
    if not (left or wanted):
        return left, wanted
    review = identity_review(project=project, distinct_ids=distinct_ids)
    _check(
        left,
        allowed={reviewed.distinct_id for reviewed in review.linked},
        field="left_out",
        why="is not an id the project's identity links add to this request",
    )
    _check(
        wanted,
        allowed={reviewed.distinct_id for reviewed in review.candidates},
        field="included",
        why="has no refused or unverified link into this request's identity clusters",
    )
    return left, wanted


def _ids(values: Sequence[str], *, field: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidRequest(f"{field} must be a list of distinct_ids.", field=field)
    unique: dict[str, None] = {}
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value or len(value) > MAX_DISTINCT_ID_LENGTH:
            raise InvalidRequest(
                f"{field}[{index}] must be a distinct_id of 1 to {MAX_DISTINCT_ID_LENGTH} "
                "characters.",
                field=field,
                index=index,
            )
        if "\x00" in value:
            raise InvalidRequest(
                f"{field}[{index}] contains a NUL character.", field=field, index=index
            )
        unique.setdefault(value)
    return list(unique)


def _check(ids: list[str], *, allowed: set[str], field: str, why: str) -> None:
    for index, distinct_id in enumerate(ids):
        if distinct_id not in allowed:
            raise InvalidRequest(f"{field}[{index}] {why}.", field=field, index=index)


def _store(
    request: PrivacyRequest, *, actor: Actor, wanted: dict[str, SubjectDecisionKind]
) -> bool:
    existing = dict(request.decisions.values_list("distinct_id", "decision"))
    stale = [
        distinct_id
        for distinct_id, decision in existing.items()
        if wanted.get(distinct_id) != decision
    ]
    fresh = [
        distinct_id
        for distinct_id, decision in wanted.items()
        if existing.get(distinct_id) != decision
    ]
    if stale:
        request.decisions.filter(distinct_id__in=stale).delete()
    now = timezone.now()
    SubjectDecision.objects.bulk_create(
        [
            SubjectDecision(
                request=request,
                distinct_id=distinct_id,
                decision=wanted[distinct_id],
                decided_by=actor.text,
                decided_at=now,
            )
            for distinct_id in fresh
        ],
        batch_size=1000,
    )
    return bool(stale or fresh)
