"""Reads behind the back office: urgency, the queue summary and the id search. What counts as
open, overdue and due soon is privacy_requests.deadlines'."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import OrderBy
from django.utils import timezone

from privacy_requests.deadlines import due_soon_q, open_q, overdue_q
from privacy_requests.models import PrivacyRequest, RequestSubject, Status
from projects.pii import distinct_id_hmac


def urgency_ordering() -> list[OrderBy]:
    """Most urgent first: open requests by due date, then the rest, newest first."""
    is_open = Case(When(open_q(), then=Value(0)), default=Value(1), output_field=IntegerField())
    open_due = Case(When(open_q(), then=F("due_at")), default=None)
    return [is_open.asc(), open_due.asc(nulls_last=True), F("received_at").desc(), F("id").desc()]


@dataclass(frozen=True)
class QueueSummary:
    queued: int
    running: int
    failed: int
    overdue: int
    due_this_week: int


def privacy_request_queue_summary(*, now: datetime | None = None) -> QueueSummary:
    now = now or timezone.now()
    counts = PrivacyRequest.objects.aggregate(
        queued=Count("id", filter=Q(status__in=(Status.PENDING, Status.STAGING))),
        running=Count("id", filter=Q(status=Status.STARTED)),
        failed=Count("id", filter=Q(status=Status.FAILURE)),
        overdue=Count("id", filter=overdue_q(now)),
        due_this_week=Count("id", filter=due_soon_q(now)),
    )
    return QueueSummary(**counts)


def privacy_requests_matching(
    queryset: QuerySet[PrivacyRequest], term: str
) -> QuerySet[PrivacyRequest]:
    """Requests whose tracking id begins with `term` (lists show its first characters), or
    that have `term` among their subjects: as given (distinct_ids are case-sensitive and used
    verbatim), or as the HMAC a subject becomes once pseudonymized, HMAC(PRIVACY_PII_KEY,
    project ‖ id), computed for each project that has pseudonymized requests. An HMAC pasted
    from an audit entry matches too."""
    term = term.strip()
    if not term:
        return queryset
    project_ids = (
        PrivacyRequest.objects.filter(subjects_pseudonymized_at__isnull=False)
        .order_by()
        .values_list("project_id", flat=True)
        .distinct()
    )
    project_by_hmac = {
        distinct_id_hmac(project_id=project_id, distinct_id=term): project_id
        for project_id in project_ids
    }
    pseudonymized = [
        request_id
        for request_id, project_id, value in RequestSubject.objects.filter(
            distinct_id__in=list(project_by_hmac)
        ).values_list("request_id", "request__project_id", "distinct_id")
        if project_by_hmac[value] == project_id
    ]
    return queryset.filter(
        Q(tracking_id__startswith=term)
        | Q(id__in=RequestSubject.objects.filter(distinct_id=term).values("request_id"))
        | Q(id__in=pseudonymized)
    )
