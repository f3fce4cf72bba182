"""Submitting requests from the pages: the export form, and the deletion form with its preview
(the ids wait in a draft until the preview is confirmed)."""

from functools import wraps
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.models import Organization
from config.site_url import submitting_site_url
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
from privacy_requests.web import presenters
from privacy_requests.web.csv_upload import UploadRefusal, csv_upload_discard, csv_upload_parse
from privacy_requests.web.forms import (
    CSV_FILE,
    DeletionConfirmForm,
    DeletionRequestForm,
    ExportRequestForm,
)
from privacy_requests.web.views.access import (
    detail_url,
    organization_projects,
    privacy_access,
    privacy_page,
)

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
        names = ", ".join(map(presenters.distinct_id_in_text, shown))
        names += f" and {more:,} more" if more else ""
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


def _csv_upload_page(kind: str):
    """A Data & Privacy page whose form may carry an uploaded CSV. The order is the point
    (issue 15): who may post is decided from the session alone, before a byte of the body is
    read; then the body is parsed within the CSV's limits, in memory (csv_upload_parse); then
    the CSRF token, which is in the body, is checked. Django's CSRF middleware would parse the
    body first, so it skips this view and csrf_protect runs right after the parse: the view is
    exactly as CSRF-protected as any other."""

    def decorate(view):
        protected = csrf_protect(view)

        @wraps(view)
        def wrapper(request: HttpRequest, organization_id: int, *args, **kwargs):
            try:
                access = privacy_access(request, organization_id)
            except Http404:
                csv_upload_discard(request)
                raise
            if isinstance(access, HttpResponse):
                csv_upload_discard(request)
                return access
            if request.method == "POST":
                refusal = csv_upload_parse(request)
                if refusal is not None:
                    csv_upload_discard(request)
                    return _upload_refused(request, access, kind, refusal)
            return protected(request, access, *args, **kwargs)

        return csrf_exempt(wrapper)

    return decorate


def _upload_refused(
    request: HttpRequest, organization: Organization, kind: str, refusal: UploadRefusal
) -> HttpResponse:
    """The form again, empty, with why the post was not read; nothing was done, so no CSRF
    token was needed to say so."""
    form_class = ExportRequestForm if kind == RequestKind.EXPORT else DeletionRequestForm
    form = form_class(projects=organization_projects(organization), initial={"ids_from": CSV_FILE})
    context = _form_context(organization, form, kind)
    context["upload_error"] = refusal.message
    return render(request, "privacy_requests/request_form.html", context, status=refusal.status)


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
    # isdigit() alone admits "²", which int() refuses.
    if chosen.isascii() and chosen.isdigit() and projects.filter(id=int(chosen)).exists():
        return {"project": int(chosen)}
    return {}


@_csv_upload_page(RequestKind.EXPORT)
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
                site_url=submitting_site_url(request),
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


@_csv_upload_page(RequestKind.DELETION)
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
            privacy_request = deletion_draft_confirm(
                draft=draft, actor=web_actor(request), site_url=submitting_site_url(request)
            )
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
            "spaced_ids": sum(map(presenters.distinct_id_has_edge_space, draft.distinct_ids)),
            "deletion_delay_minutes": settings.PRIVACY_DELETION_DELAY // 60,
        },
    )
