"""The request pages: the list, one request with its audit trail, their status for the pages'
script, and cancel and retry."""

from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.actors import web_actor
from accounts.models import Organization
from privacy_requests.errors import PrivacyRequestError
from privacy_requests.exports.downloads import result_unavailable_reason
from privacy_requests.liveness import worker_missing_warning
from privacy_requests.models import (
    CANCELABLE_STATUSES,
    ApprovalState,
    PrivacyRequest,
    Status,
    SubjectDecisionKind,
    tracking_id_can_exist,
)
from privacy_requests.selectors import (
    audit_trail,
    given_ids_shown,
    privacy_organizations_for_user,
    privacy_request_decisions,
    privacy_request_get_for_user,
    privacy_request_given_ids,
    privacy_request_list_for_organization,
    privacy_request_reached_ids,
    privacy_request_result_url,
    privacy_request_subject_results,
    request_preview,
)
from privacy_requests.services import privacy_request_cancel, privacy_request_retry
from privacy_requests.web import presenters
from privacy_requests.web.forms import ApprovalDecisionForm, RequestFilterForm
from privacy_requests.web.views.access import (
    detail_url,
    organization_projects,
    privacy_page,
    request_or_404,
)

# 20 cards make a phone page of about 2,500 px.
PAGE_SIZE = 20
MAX_POLLED = 100


@login_required
@require_GET
def privacy_home(request: HttpRequest) -> HttpResponse:
    """The header's Data & Privacy link: straight to the only organization, or a choice."""
    organizations = list(privacy_organizations_for_user(user=request.user))
    if len(organizations) == 1:
        return redirect("privacy_web:list", organization_id=organizations[0].id)
    if not organizations:
        reason = (
            "Only owners and admins of an organization can see and submit its privacy "
            "requests. You are not an owner or admin of any organization."
        )
        return render(request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN)
    return render(
        request, "privacy_requests/organization_choice.html", {"organizations": organizations}
    )


@privacy_page()
@require_GET
def request_list(request: HttpRequest, organization: Organization) -> HttpResponse:
    projects = organization_projects(organization)
    filters = RequestFilterForm(request.GET or None, projects=projects)
    chosen: dict = {}
    if filters.is_bound:
        filters.is_valid()
        chosen = {name: value for name, value in filters.cleaned_data.items() if value}
    requests = privacy_request_list_for_organization(
        user=request.user,
        organization=organization,
        project=chosen.get("project"),
        status=chosen.get("status", ""),
        kind=chosen.get("kind", ""),
        search=chosen.get("search", ""),
    )
    page = Paginator(requests, PAGE_SIZE).get_page(request.GET.get("page"))
    given = given_ids_shown(list(page))
    base = request.build_absolute_uri("/")
    rows = [
        {
            "request": privacy_request,
            "given": given[privacy_request.id],
            "download_url": privacy_request_result_url(request=privacy_request, absolute_base=base),
            "progress": presenters.progress_percent(privacy_request),
            "progress_text": presenters.progress_text(privacy_request),
            "overdue": presenters.is_overdue(privacy_request),
            "live": presenters.is_live(privacy_request),
        }
        for privacy_request in page
    ]
    return render(
        request,
        "privacy_requests/request_list.html",
        {
            "organization": organization,
            "page": page,
            "rows": rows,
            "filters": filters,
            "filtered": bool(chosen),
            "has_projects": projects.exists(),
            "live_ids": [row["request"].tracking_id for row in rows if row["live"]],
            "worker_warning": worker_missing_warning(organization_id=organization.id),
        },
    )


def _approval(request: HttpRequest, privacy_request: PrivacyRequest) -> dict | None:
    """For a deletion awaiting its second approval: what it would reach now (the preview's
    counts), and whether this person may decide (never the requester)."""
    if privacy_request.approval_state != ApprovalState.AWAITING:
        return None
    decided = privacy_request.decisions.values_list("distinct_id", "decision")
    preview = request_preview(
        project=privacy_request.project,
        distinct_ids=privacy_request_given_ids(request=privacy_request),
        left_out=[i for i, decision in decided if decision == SubjectDecisionKind.LEFT_OUT],
        included=[i for i, decision in decided if decision == SubjectDecisionKind.INCLUDED],
    )
    return {
        "preview": preview,
        "own": privacy_request.requester_id == request.user.pk,
        "form": ApprovalDecisionForm(),
    }


@never_cache
@privacy_page(as_json=True)
@require_GET
def requests_status(request: HttpRequest, organization: Organization) -> JsonResponse:
    """Status and progress of the listed requests (`?t=<tracking_id>`, repeated)."""
    tracking_ids = [
        tracking_id
        for tracking_id in request.GET.getlist("t")[:MAX_POLLED]
        if tracking_id_can_exist(tracking_id)
    ]
    requests = privacy_request_list_for_organization(
        user=request.user, organization=organization
    ).filter(tracking_id__in=tracking_ids)
    return JsonResponse(
        {
            "requests": [
                presenters.request_status_payload(privacy_request) for privacy_request in requests
            ]
        }
    )


def _result(request: HttpRequest, privacy_request: PrivacyRequest) -> dict:
    """The download link, or why there is none, for a finished request."""
    if privacy_request.status != Status.SUCCESS:
        return {"url": "", "reason": ""}
    url = privacy_request_result_url(
        request=privacy_request, absolute_base=request.build_absolute_uri("/")
    )
    reason = ""
    if not url:
        reason = result_unavailable_reason(privacy_request) or "There is no file to download."
    # Issue 17: each subject's own package, in the order of the given ids (as numbered).
    subjects = [
        {**result, "bytes": package.get("bytes")}
        for result, package in zip(
            privacy_request_subject_results(request=privacy_request),
            privacy_request.result_packages or [],
            strict=False,
        )
    ]
    return {"url": url, "reason": reason, "subjects": subjects if url else []}


@never_cache
@privacy_page()
@require_GET
def request_detail(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> HttpResponse:
    privacy_request = request_or_404(request, organization, tracking_id)
    given = privacy_request_given_ids(request=privacy_request)
    linked = privacy_request.subjects.filter(linked=True).count()
    entries = [
        {
            "entry": entry,
            "action": presenters.audit_action_label(entry.action),
            "summary": presenters.audit_detail_summary(entry),
        }
        for entry in audit_trail(request=privacy_request)
    ]
    return render(
        request,
        "privacy_requests/request_detail.html",
        {
            "organization": organization,
            "privacy_request": privacy_request,
            "given": given,
            "linked": linked,
            "reached": privacy_request_reached_ids(request=privacy_request),
            "decisions": privacy_request_decisions(request=privacy_request),
            "entries": entries,
            "result": _result(request, privacy_request),
            "progress": presenters.progress_percent(privacy_request),
            "progress_text": presenters.progress_text(privacy_request),
            "overdue": presenters.is_overdue(privacy_request),
            "live": presenters.is_watched(privacy_request),
            "watch_state": presenters.watch_state(privacy_request),
            "can_cancel": privacy_request.status in CANCELABLE_STATUSES,
            "can_retry": privacy_request.status == Status.FAILURE,
            "approval": _approval(request, privacy_request),
            # Only on a page whose request waits, for the person watching it not move.
            "worker_warning": (
                worker_missing_warning(organization_id=organization.id)
                if privacy_request.status in CANCELABLE_STATUSES
                else None
            ),
            "failure": (
                presenters.failure_sentences(privacy_request)
                if privacy_request.status == Status.FAILURE
                else []
            ),
            "counts": [
                (name.replace("_", " "), value)
                for name, value in (privacy_request.counts or {}).items()
                if isinstance(value, int)
            ],
        },
    )


@never_cache
@privacy_page(as_json=True)
@require_GET
def request_status(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> JsonResponse:
    privacy_request = privacy_request_get_for_user(user=request.user, tracking_id=tracking_id)
    if privacy_request is None or privacy_request.organization_id != organization.id:
        return JsonResponse({"error": "NOT_FOUND"}, status=HTTPStatus.NOT_FOUND)
    return JsonResponse(presenters.request_status_payload(privacy_request))


@privacy_page()
@require_http_methods(["GET", "POST"])
def request_cancel(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> HttpResponse:
    privacy_request = request_or_404(request, organization, tracking_id)
    if request.method == "GET":
        if privacy_request.status not in CANCELABLE_STATUSES:
            messages.error(
                request,
                (
                    f"This request is {privacy_request.status}: a request can be canceled only "
                    "while it is PENDING or STAGING."
                ),
            )
            return redirect(detail_url(privacy_request))
        return render(
            request,
            "privacy_requests/request_cancel.html",
            {
                "organization": organization,
                "privacy_request": privacy_request,
                "ids": privacy_request.subjects.filter(linked=False).count(),
            },
        )
    try:
        privacy_request_cancel(request=privacy_request, actor=web_actor(request))
    except PrivacyRequestError as exc:
        messages.error(request, f"The request was not canceled. {exc}")
    else:
        messages.success(request, "The request was canceled: nothing more will be done.")
    return redirect(detail_url(privacy_request))


@privacy_page()
@require_http_methods(["GET", "POST"])
def request_retry(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> HttpResponse:
    privacy_request = request_or_404(request, organization, tracking_id)
    if request.method == "GET":
        return redirect(detail_url(privacy_request))
    try:
        privacy_request_retry(request=privacy_request, actor=web_actor(request))
    except PrivacyRequestError as exc:
        messages.error(request, f"The request was not retried. {exc}")
    else:
        messages.success(request, "The request will run again; its due date stays the same.")
    return redirect(detail_url(privacy_request))
