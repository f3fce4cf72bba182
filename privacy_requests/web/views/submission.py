"""Submitting requests from the pages: the export and deletion forms, and the preview every
request passes through (the ids, and the person's decisions on what they reach, wait in a draft
until the preview is confirmed)."""

from functools import wraps
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.models import Organization
from config.site_url import submitting_site_url
from privacy_requests.deletions.scope_preview import deletion_scope_preview
from privacy_requests.errors import Conflict, InvalidRequest, PrivacyRequestError
from privacy_requests.models import RequestKind
from privacy_requests.selectors import (
    deletion_conflicts_find,
    request_draft_get_for_user,
    request_preview,
)
from privacy_requests.services.drafts import (
    DRAFT_LIFETIME,
    DraftGone,
    request_draft_confirm,
    request_draft_create,
    request_draft_decide,
)
from privacy_requests.services.submission import MAX_DISTINCT_ID_LENGTH
from privacy_requests.web import presenters
from privacy_requests.web.csv_kept import csv_keep, csv_kept_forget, csv_kept_get
from privacy_requests.web.csv_upload import UploadRefusal, csv_upload_discard, csv_upload_parse
from privacy_requests.web.forms import (
    CSV_FILE,
    ONE_USER,
    DeletionRequestForm,
    ExportRequestForm,
    PreviewForm,
)
from privacy_requests.web.preview_rows import preview_page
from privacy_requests.web.views.access import (
    detail_url,
    organization_projects,
    privacy_access,
    privacy_page,
)

CONFLICT_IDS_SHOWN = 20
DRAFT_GONE = (
    "This preview is no longer available: previews last 15 minutes and can be confirmed once, "
    "by the person who made them. Nothing was {done}. Start again below."
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
            "categories": "categories",
            "sources": "sources",
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


def _initial_request(request: HttpRequest, projects) -> dict:
    """The form as a link may open it: `?project=` and, from the end-user lookup's results,
    `?distinct_id=` (verbatim). Only fills the form: nothing is asked until it is posted."""
    initial = _initial_project(request, projects)
    distinct_id = request.GET.get("distinct_id", "")
    if 0 < len(distinct_id) <= MAX_DISTINCT_ID_LENGTH:
        initial.update({"ids_from": ONE_USER, "distinct_id": distinct_id})
    return initial


def _new_request(request: HttpRequest, organization: Organization, kind: str) -> HttpResponse:
    """The export or deletion form; a valid post makes a draft and opens its preview."""
    form_class = ExportRequestForm if kind == RequestKind.EXPORT else DeletionRequestForm
    projects = organization_projects(organization)
    where = {"organization_id": organization.id, "kind": kind}
    if request.method == "POST":
        kept = csv_kept_get(request, **where)
        form = form_class(request.POST, request.FILES, projects=projects, kept_csv=kept)
    else:
        csv_kept_forget(request, **where)
        form = form_class(projects=projects, initial=_initial_request(request, projects))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if kind == RequestKind.DELETION:
                conflict = deletion_conflicts_find(
                    project=data["project"], distinct_ids=data["distinct_ids"]
                )
                if conflict.distinct_ids:
                    raise Conflict(
                        "", distinct_ids=conflict.distinct_ids, tracking_ids=conflict.tracking_ids
                    )
            draft = request_draft_create(
                actor=web_actor(request),
                project=data["project"],
                kind=kind,
                compliance=data["compliance"],
                disclosure=data.get("disclosure") or "",
                categories=data.get("categories")
                if data.get("disclosure") == "Categories"
                else None,
                sources=data.get("sources") if data.get("disclosure") == "Sources" else None,
                distinct_ids=data["distinct_ids"],
            )
        except PrivacyRequestError as exc:
            _add_service_error(form, exc, ids_field=_ids_field(form))
        else:
            csv_kept_forget(request, **where)
            return redirect(_preview_url(draft))
    context = _form_context(organization, form, kind)
    if request.method == "POST":
        context["kept_csv"] = _keep_csv_ids(request, form, where)
    return render(request, "privacy_requests/request_form.html", context)


def _keep_csv_ids(request: HttpRequest, form, where: dict):
    """After a form error, the ids of the CSV read this time (or kept before), so that the
    person need not choose the file again; None when there are none to keep."""
    data = getattr(form, "cleaned_data", {})
    if data.get("ids_from") != CSV_FILE or "csv_file" in form.errors:
        csv_kept_forget(request, **where)
        return None
    upload = request.FILES.get("csv_file")
    if upload is not None and data.get("parsed") is not None:
        return csv_keep(request, name=upload.name, distinct_ids=data["distinct_ids"], **where)
    return form.kept_csv


def _draft_gone(kind: str) -> str:
    return DRAFT_GONE.format(done="deleted" if kind == RequestKind.DELETION else "exported")


def _preview_url(draft) -> str:
    name = "export_preview" if draft.kind == RequestKind.EXPORT else "deletion_preview"
    return reverse(f"privacy_web:{name}", args=[draft.organization_id, draft.id])


@_csv_upload_page(RequestKind.EXPORT)
@require_http_methods(["GET", "POST"])
def export_new(request: HttpRequest, organization: Organization) -> HttpResponse:
    return _new_request(request, organization, RequestKind.EXPORT)


@_csv_upload_page(RequestKind.DELETION)
@require_http_methods(["GET", "POST"])
def deletion_new(request: HttpRequest, organization: Organization) -> HttpResponse:
    return _new_request(request, organization, RequestKind.DELETION)


@never_cache
@privacy_page()
@require_http_methods(["GET", "POST"])
def export_preview_page(
    request: HttpRequest, organization: Organization, draft_id: UUID
) -> HttpResponse:
    return _preview(request, organization, draft_id, RequestKind.EXPORT)


@never_cache
@privacy_page()
@require_http_methods(["GET", "POST"])
def deletion_preview_page(
    request: HttpRequest, organization: Organization, draft_id: UUID
) -> HttpResponse:
    return _preview(request, organization, draft_id, RequestKind.DELETION)


def _preview(
    request: HttpRequest, organization: Organization, draft_id: UUID, kind: str
) -> HttpResponse:
    """GET shows what the draft's request reaches. A post stores the person's decisions
    first; when they change what is reached, the page shows the new counts before anything
    is submitted (post/redirect/get), so nothing is submitted that was not shown."""
    new_page = f"privacy_web:{kind}_new"
    draft = request_draft_get_for_user(
        user=request.user, organization=organization, draft_id=draft_id
    )
    if draft is None or draft.kind != kind:
        messages.error(request, _draft_gone(kind))
        return redirect(new_page, organization_id=organization.id)
    # A post without a button's name (a script, an older page) submits, as the form did.
    submitting = request.POST.get("action", "submit") == "submit"
    posted = request.POST if request.method == "POST" else None
    form = PreviewForm(posted, kind=kind, submitting=submitting)
    if request.method == "POST":
        actor = web_actor(request)
        left_out, included = form.decisions()
        try:
            changed = request_draft_decide(
                draft=draft, actor=actor, left_out=left_out, included=included
            )
            if changed or not submitting:
                if changed and submitting:
                    messages.warning(
                        request,
                        "Your choices changed what this request reaches: check the counts "
                        "below, then submit again. Nothing was submitted yet.",
                    )
                return redirect(_preview_url(draft))
            if form.is_valid():
                privacy_request = request_draft_confirm(
                    draft=draft, actor=actor, site_url=submitting_site_url(request)
                )
                count = len(draft.distinct_ids)
                if privacy_request.approval_state:
                    messages.warning(
                        request,
                        f"Deletion requested for {count:,} id{'s' if count != 1 else ''}. It is "
                        "larger than your organization's limit, so it waits for another owner "
                        "or admin to approve it; they were emailed.",
                    )
                    return redirect(detail_url(privacy_request))
                messages.success(
                    request,
                    (
                        f"{draft.get_kind_display()} requested for {count:,} "
                        f"id{'s' if count != 1 else ''}. This page follows it; we will email "
                        "you when it ends."
                    ),
                )
                return redirect(detail_url(privacy_request))
        except DraftGone:
            messages.error(request, _draft_gone(kind))
            return redirect(new_page, organization_id=organization.id)
        except PrivacyRequestError as exc:
            _add_service_error(form, exc, ids_field="")
    preview = request_preview(
        project=draft.project,
        distinct_ids=draft.distinct_ids,
        left_out=draft.left_out,
        included=draft.included,
    )
    return render(
        request,
        "privacy_requests/request_preview.html",
        {
            "organization": organization,
            "draft": draft,
            "preview": preview,
            "page": preview_page(preview),
            "scope_rows": deletion_scope_preview(
                project_id=draft.project_id,
                distinct_ids=preview.review.subject_ids,
                disclosure=draft.disclosure if draft.kind == RequestKind.DELETION else "",
                scope=draft.scope,
            ),
            "form": form,
            "ids_shown": draft.distinct_ids[:100],
            "spaced_ids": sum(map(presenters.distinct_id_has_edge_space, draft.distinct_ids)),
            "deletion_delay_minutes": settings.PRIVACY_DELETION_DELAY // 60,
            "export_ttl_days": settings.PRIVACY_EXPORT_TTL // 86400,
        },
    )
