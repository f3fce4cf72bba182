"""Submitting requests from the pages: the export form, and the deletion form with its preview
(the ids wait in a draft until the preview is confirmed)."""

from functools import wraps
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.models import Organization
from privacy_requests.errors import Conflict, InvalidRequest, PrivacyRequestError
from privacy_requests.models import Channel, RequestKind
from privacy_requests.selectors import (
    deletion_conflicts_find,
    deletion_draft_get_for_user,
    deletion_preview,
)
from privacy_requests.services import privacy_request_submit
from privacy_requests.services.drafts import (
    DRAFT_LIFETIME,
    DraftGone,
    deletion_draft_confirm,
    deletion_draft_create,
)
from privacy_requests.web.csv_upload import MemoryOnlyUploadHandler
from privacy_requests.web.forms import DeletionConfirmForm, DeletionRequestForm, ExportRequestForm
from privacy_requests.web.views.access import detail_url, organization_projects, privacy_page

CONFLICT_IDS_SHOWN = 20
DRAFT_GONE = (
    "This preview is no longer available: previews last 15 minutes and can be confirmed once, "
    "by the person who made them. Nothing was deleted. Start again below."
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
    projects = organization_projects(organization)
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
            return redirect(detail_url(privacy_request))
    return render(
        request,
        "privacy_requests/request_form.html",
        _form_context(organization, form, RequestKind.EXPORT),
    )


@_read_uploads_in_memory
@privacy_page()
@require_http_methods(["GET", "POST"])
def deletion_new(request: HttpRequest, organization: Organization) -> HttpResponse:
    projects = organization_projects(organization)
    if request.method == "POST":
        form = DeletionRequestForm(request.POST, request.FILES, projects=projects)
    else:
        form = DeletionRequestForm(projects=projects, initial=_initial_project(request, projects))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        conflict = deletion_conflicts_find(
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
            return redirect(detail_url(privacy_request))
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
