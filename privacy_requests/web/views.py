"""Organization settings → Data & Privacy (DESIGN section 8): thin views over the services.

Who sees what: anonymous visitors are sent to sign in; another organization's pages, requests
and drafts answer 404; members of the organization get 403 with a plain explanation; owners and
admins use everything. Every POST is CSRF-protected; every refusal of a service becomes a form
error or a message, never a 500.
"""

import logging
from functools import wraps
from http import HTTPStatus
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from accounts.actors import web_actor
from accounts.models import Organization
from accounts.selectors import MANAGER_ROLES, organization_get_for_user
from privacy_requests.errors import Conflict, InvalidRequest, PrivacyRequestError
from privacy_requests.models import (
    CANCELABLE_STATUSES,
    Channel,
    PrivacyRequest,
    RequestKind,
    Status,
)
from privacy_requests.selectors import (
    privacy_request_get_for_user,
    privacy_request_given_ids,
    privacy_request_result_url,
)
from privacy_requests.services import (
    privacy_request_cancel,
    privacy_request_retry,
    privacy_request_submit,
)
from privacy_requests.web import selectors
from privacy_requests.web.csv_upload import MemoryOnlyUploadHandler
from privacy_requests.web.drafts import (
    DRAFT_LIFETIME,
    DraftGone,
    deletion_draft_confirm,
    deletion_draft_create,
    deletion_draft_get_for_user,
    deletion_preview,
)
from privacy_requests.web.forms import (
    DeletionConfirmForm,
    DeletionRequestForm,
    ExportRequestForm,
    RequestFilterForm,
)
from projects.models import Project

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
MAX_POLLED = 100
CONFLICT_IDS_SHOWN = 20
DRAFT_GONE = (
    "This preview is no longer available: previews last 15 minutes and can be confirmed once, "
    "by the person who made them. Nothing was deleted. Start again below."
)


def _forbidden(request: HttpRequest, organization: Organization, *, as_json: bool = False):
    reason = (
        f"Only owners and admins of {organization.name} can see and submit its privacy "
        "requests (data exports and deletions). You are a member: ask an owner or admin if an "
        "end user's data needs exporting or deleting."
    )
    if as_json:
        return JsonResponse({"error": reason}, status=HTTPStatus.FORBIDDEN)
    return render(request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN)


def privacy_page(*, as_json: bool = False):
    """Resolves `organization_id` for an owner or admin: 404 outside the organization, 403 for
    its members; the view gets the organization instead of the id."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, organization_id: int, *args, **kwargs):
            organization = organization_get_for_user(
                user=request.user, organization_id=organization_id
            )
            if organization is None:
                if as_json:
                    return JsonResponse({"error": "NOT_FOUND"}, status=HTTPStatus.NOT_FOUND)
                raise Http404("No such organization.")
            role = selectors.organization_role(user=request.user, organization=organization)
            if role not in MANAGER_ROLES:
                return _forbidden(request, organization, as_json=as_json)
            return view(request, organization, *args, **kwargs)

        return login_required(wrapper)

    return decorate


def _request_or_404(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> PrivacyRequest:
    privacy_request = privacy_request_get_for_user(user=request.user, tracking_id=tracking_id)
    if privacy_request is None or privacy_request.organization_id != organization.id:
        raise Http404("No such request.")
    return privacy_request


def _projects(organization: Organization):
    return Project.objects.filter(organization=organization).order_by("name", "id")


def _detail_url(privacy_request: PrivacyRequest) -> str:
    return reverse(
        "privacy_web:detail", args=[privacy_request.organization_id, privacy_request.tracking_id]
    )


@login_required
@require_GET
def privacy_home(request: HttpRequest) -> HttpResponse:
    """The header's Data & Privacy link: straight to the only organization, or a choice."""
    organizations = list(selectors.privacy_organizations_for_user(user=request.user))
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
    projects = _projects(organization)
    filters = RequestFilterForm(request.GET or None, projects=projects)
    chosen: dict = {}
    if filters.is_bound:
        filters.is_valid()
        chosen = {name: value for name, value in filters.cleaned_data.items() if value}
    requests = selectors.privacy_request_list_for_organization(
        user=request.user,
        organization=organization,
        project=chosen.get("project"),
        status=chosen.get("status", ""),
        kind=chosen.get("kind", ""),
    )
    page = Paginator(requests, PAGE_SIZE).get_page(request.GET.get("page"))
    ids = selectors.given_id_counts([privacy_request.id for privacy_request in page])
    rows = [
        {
            "request": privacy_request,
            "ids": ids.get(privacy_request.id, 0),
            "progress": selectors.progress_percent(privacy_request),
            "progress_text": selectors.progress_text(privacy_request),
            "overdue": selectors.is_overdue(privacy_request),
            "live": selectors.is_live(privacy_request),
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
        },
    )


@never_cache
@privacy_page(as_json=True)
@require_GET
def requests_status(request: HttpRequest, organization: Organization) -> JsonResponse:
    """Status and progress of the listed requests (`?t=<tracking_id>`, repeated)."""
    tracking_ids = request.GET.getlist("t")[:MAX_POLLED]
    requests = selectors.privacy_request_list_for_organization(
        user=request.user, organization=organization
    ).filter(tracking_id__in=tracking_ids)
    return JsonResponse(
        {
            "requests": [
                selectors.request_status_payload(privacy_request) for privacy_request in requests
            ]
        }
    )


def _add_service_error(form, exc: PrivacyRequestError, *, ids_field: str) -> None:
    """One mapping of the services' refusals to form errors."""
    if isinstance(exc, Conflict):
        shown = exc.distinct_ids[:CONFLICT_IDS_SHOWN]
        more = len(exc.distinct_ids) - len(shown)
        names = ", ".join(shown) + (f" and {more:,} more" if more else "")
        form.add_error(
            None,
            (
                f"{len(exc.distinct_ids):,} of these ids already have a deletion in progress: "
                f"{names}. Requests: {', '.join(exc.tracking_ids)}. Wait for them to finish, or "
                "cancel them, then submit again."
            ),
        )
        return
    field = None
    if isinstance(exc, InvalidRequest):
        field = {
            "compliance_type": "compliance",
            "disclosure_type": "disclosure",
            "distinct_ids": ids_field,
        }.get(exc.field)
        if field not in form.fields:
            field = None
    form.add_error(field, str(exc))


def _ids_field(form) -> str:
    return "csv_file" if form.cleaned_data.get("ids_from") == "csv" else "distinct_id"


def _read_uploads_in_memory(view):
    """Uploaded CSVs stay in memory and are never written to disk (DESIGN section 9). Upload
    handlers must be set before the body is read, and Django's CSRF middleware reads it, so
    the middleware skips this view and `csrf_protect` checks the token right after: the view
    is exactly as CSRF-protected as any other."""
    protected = csrf_protect(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        request.upload_handlers = [MemoryOnlyUploadHandler(request)]
        return protected(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def _form_context(organization: Organization, form, kind: str) -> dict:
    return {
        "organization": organization,
        "form": form,
        "kind": kind,
        "has_projects": form.fields["project"].queryset.exists(),
        "export_ttl_days": settings.PRIVACY_EXPORT_TTL // 86400,
        "deletion_delay_minutes": settings.PRIVACY_DELETION_DELAY // 60,
        "draft_minutes": int(DRAFT_LIFETIME.total_seconds() // 60),
    }


def _initial_project(request: HttpRequest, projects) -> dict:
    chosen = request.GET.get("project", "")
    if chosen.isdigit() and projects.filter(id=int(chosen)).exists():
        return {"project": int(chosen)}
    return {}


@_read_uploads_in_memory
@privacy_page()
@require_http_methods(["GET", "POST"])
def export_new(request: HttpRequest, organization: Organization) -> HttpResponse:
    projects = _projects(organization)
    if request.method == "POST":
        form = ExportRequestForm(request.POST, request.FILES, projects=projects)
    else:
        form = ExportRequestForm(projects=projects, initial=_initial_project(request, projects))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            privacy_request = privacy_request_submit(
                project=data["project"],
                actor=web_actor(request),
                channel=Channel.WEB,
                kind=RequestKind.EXPORT,
                compliance=data["compliance"],
                disclosure=data["disclosure"],
                distinct_ids=data["distinct_ids"],
            )
        except PrivacyRequestError as exc:
            _add_service_error(form, exc, ids_field=_ids_field(form))
        else:
            count = len(data["distinct_ids"])
            messages.success(
                request,
                (
                    f"Export requested for {count:,} id{'s' if count != 1 else ''}. This page "
                    "follows it; we will email you when it ends."
                ),
            )
            return redirect(_detail_url(privacy_request))
    return render(
        request,
        "privacy_requests/request_form.html",
        _form_context(organization, form, RequestKind.EXPORT),
    )


@_read_uploads_in_memory
@privacy_page()
@require_http_methods(["GET", "POST"])
def deletion_new(request: HttpRequest, organization: Organization) -> HttpResponse:
    projects = _projects(organization)
    if request.method == "POST":
        form = DeletionRequestForm(request.POST, request.FILES, projects=projects)
    else:
        form = DeletionRequestForm(projects=projects, initial=_initial_project(request, projects))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        conflict = selectors.deletion_conflicts_find(
            project=data["project"], distinct_ids=data["distinct_ids"]
        )
        try:
            if conflict.distinct_ids:
                raise Conflict(
                    "", distinct_ids=conflict.distinct_ids, tracking_ids=conflict.tracking_ids
                )
            draft = deletion_draft_create(
                actor=web_actor(request),
                project=data["project"],
                compliance=data["compliance"],
                distinct_ids=data["distinct_ids"],
            )
        except PrivacyRequestError as exc:
            _add_service_error(form, exc, ids_field=_ids_field(form))
        else:
            return redirect(
                "privacy_web:deletion_preview", organization_id=organization.id, draft_id=draft.id
            )
    return render(
        request,
        "privacy_requests/request_form.html",
        _form_context(organization, form, RequestKind.DELETION),
    )


@never_cache
@privacy_page()
@require_http_methods(["GET", "POST"])
def deletion_preview_page(
    request: HttpRequest, organization: Organization, draft_id: UUID
) -> HttpResponse:
    draft = deletion_draft_get_for_user(
        user=request.user, organization=organization, draft_id=draft_id
    )
    if draft is None:
        messages.error(request, DRAFT_GONE)
        return redirect("privacy_web:deletion_new", organization_id=organization.id)
    form = DeletionConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            privacy_request = deletion_draft_confirm(draft=draft, actor=web_actor(request))
        except DraftGone:
            messages.error(request, DRAFT_GONE)
            return redirect("privacy_web:deletion_new", organization_id=organization.id)
        except PrivacyRequestError as exc:
            _add_service_error(form, exc, ids_field="")
        else:
            count = len(draft.distinct_ids)
            messages.success(
                request,
                (
                    f"Deletion requested for {count:,} id{'s' if count != 1 else ''}. This page "
                    "follows it; we will email you when it ends."
                ),
            )
            return redirect(_detail_url(privacy_request))
    preview = deletion_preview(project=draft.project, distinct_ids=draft.distinct_ids)
    return render(
        request,
        "privacy_requests/deletion_preview.html",
        {
            "organization": organization,
            "draft": draft,
            "preview": preview,
            "form": form,
            "ids_shown": draft.distinct_ids[:100],
            "deletion_delay_minutes": settings.PRIVACY_DELETION_DELAY // 60,
        },
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
        # Imported here: the download module belongs to the export package.
        from privacy_requests.exports.downloads import result_unavailable_reason

        reason = result_unavailable_reason(privacy_request) or "There is no file to download."
    return {"url": url, "reason": reason}


@never_cache
@privacy_page()
@require_GET
def request_detail(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> HttpResponse:
    privacy_request = _request_or_404(request, organization, tracking_id)
    given = privacy_request_given_ids(request=privacy_request)
    linked = privacy_request.subjects.filter(linked=True).count()
    entries = [
        {
            "entry": entry,
            "action": selectors.audit_action_label(entry.action),
            "summary": selectors.audit_detail_summary(entry),
        }
        for entry in selectors.audit_trail(request=privacy_request)
    ]
    return render(
        request,
        "privacy_requests/request_detail.html",
        {
            "organization": organization,
            "privacy_request": privacy_request,
            "given": given,
            "linked": linked,
            "entries": entries,
            "result": _result(request, privacy_request),
            "progress": selectors.progress_percent(privacy_request),
            "progress_text": selectors.progress_text(privacy_request),
            "overdue": selectors.is_overdue(privacy_request),
            "live": selectors.is_live(privacy_request),
            "can_cancel": privacy_request.status in CANCELABLE_STATUSES,
            "can_retry": privacy_request.status == Status.FAILURE,
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
    return JsonResponse(selectors.request_status_payload(privacy_request))


@privacy_page()
@require_http_methods(["GET", "POST"])
def request_cancel(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> HttpResponse:
    privacy_request = _request_or_404(request, organization, tracking_id)
    if request.method == "GET":
        if privacy_request.status not in CANCELABLE_STATUSES:
            messages.error(
                request,
                (
                    f"This request is {privacy_request.status}: a request can be canceled only "
                    "while it is PENDING or STAGING."
                ),
            )
            return redirect(_detail_url(privacy_request))
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
    return redirect(_detail_url(privacy_request))


@privacy_page()
@require_http_methods(["GET", "POST"])
def request_retry(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> HttpResponse:
    privacy_request = _request_or_404(request, organization, tracking_id)
    if request.method == "GET":
        return redirect(_detail_url(privacy_request))
    try:
        privacy_request_retry(request=privacy_request, actor=web_actor(request))
    except PrivacyRequestError as exc:
        messages.error(request, f"The request was not retried. {exc}")
    else:
        messages.success(request, "The request will run again; its due date stays the same.")
    return redirect(_detail_url(privacy_request))
