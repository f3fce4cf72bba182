"""A project's settings page (/projects/<id>/settings/): its API secret, which identity links
join ids, its suppression of deleted ids, how long it keeps events, and the records ingestion
refused lately. The page lives here, not in projects, because it changes settings whose changes
privacy_requests audits (suppression, the identity link rule, event retention); its URLs keep
the `projects` namespace (config/urls.py)."""

from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.selectors import MANAGER_ROLES, membership_get
from accounts.shown_once import secret_keep_for_display, secret_take_for_display
from privacy_requests.deletions.suppression import (
    suppressed_ids_recent,
    suppression_lift,
    suppression_set,
)
from privacy_requests.errors import PrivacyRequestError
from privacy_requests.retention.services import keep_events_months_set, retention_last_run
from privacy_requests.services.identity_rule import identity_links_from_set
from privacy_requests.web.forms import IdentityLinksFromForm, SuppressionForm, SuppressionLiftForm
from privacy_requests.web.retention_forms import EventRetentionForm
from projects.errors import ProjectsError
from projects.forms import ApiSecretRotateForm
from projects.models import IdentityLinksFrom, Project, SuppressedId
from projects.selectors import project_get_for_user, refused_records_recent
from projects.services import project_rotate_api_secret


def _managed_project(request: HttpRequest, project_id: int) -> Project | HttpResponse:
    """The project for its organization's owners and admins; 404 for everyone outside the
    organization, 403 (with the reason) for its members."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    if project is None:
        raise Http404("No such project.")
    membership = membership_get(user=request.user, organization=project.organization)
    if membership is None or membership.role not in MANAGER_ROLES:
        reason = (
            f"Only owners and admins of {project.organization.name} can change the "
            "settings of its projects. Ask one of them if something needs changing."
        )
        return render(request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN)
    return project


def _render_settings(
    request: HttpRequest,
    project: Project,
    *,
    rotate_form=None,
    lift_form=None,
    retention_form=None,
    status: int = HTTPStatus.OK,
) -> HttpResponse:
    refusals = refused_records_recent(project=project)
    return render(
        request,
        "privacy_requests/project_settings.html",
        {
            "project": project,
            "rotate_form": rotate_form or ApiSecretRotateForm(),
            "lift_form": lift_form or SuppressionLiftForm(),
            "suppression_form": SuppressionForm(
                initial={"enabled": "off" if project.suppress_deleted_ids else "on"}
            ),
            "identity_links_form": IdentityLinksFromForm(
                initial={"identity_links_from": project.identity_links_from}
            ),
            "retention_form": retention_form
            or EventRetentionForm(
                current=project.keep_events_months,
                initial={"keep_events_months": project.keep_events_months},
            ),
            "retention_run": retention_last_run(project=project),
            "suppressed_count": SuppressedId.objects.filter(project=project).count(),
            "suppressed_recent": suppressed_ids_recent(project=project),
            "refusals": refusals,
            "refused_total": sum(tally.count for tally in refusals),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET"])
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed_project(request, project_id)
    if isinstance(project, HttpResponse):
        return project
    return _render_settings(request, project)


@login_required
@require_http_methods(["GET", "POST"])
def project_api_secret_rotate(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed_project(request, project_id)
    if isinstance(project, HttpResponse):
        return project
    if request.method == "GET":
        return redirect("projects:settings", project_id=project.id)
    form = ApiSecretRotateForm(request.POST)
    if not form.is_valid():
        return _render_settings(request, project, rotate_form=form)
    try:
        secret = project_rotate_api_secret(actor=web_actor(request), project=project)
    except ProjectsError as exc:
        messages.error(request, f"The API secret was not rotated. {exc}")
        return redirect("projects:settings", project_id=project.id)
    # Post/redirect/get: a reload of the page that shows the secret must not rotate it again.
    secret_keep_for_display(request, name=_api_secret_name(project), secret=secret)
    return redirect("projects:api_secret_rotated", project_id=project.id)


def _api_secret_name(project: Project) -> str:
    return f"api-secret:{project.id}"


@login_required
@require_http_methods(["GET"])
def project_api_secret_rotated(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed_project(request, project_id)
    if isinstance(project, HttpResponse):
        return project
    secret = secret_take_for_display(request, name=_api_secret_name(project))
    response = render(
        request,
        "privacy_requests/api_secret_rotated.html",
        {"project": project, "api_secret": secret},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["POST"])
def project_suppression(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed_project(request, project_id)
    if isinstance(project, HttpResponse):
        return project
    form = SuppressionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing changed: choose to turn suppression on or off.")
        return redirect("projects:settings", project_id=project.id)
    enabled = form.cleaned_data["enabled"] == "on"
    try:
        changed = suppression_set(project=project, actor=web_actor(request), enabled=enabled)
    except PrivacyRequestError as exc:
        messages.error(request, f"Nothing changed. {exc}")
        return redirect("projects:settings", project_id=project.id)
    if not changed:
        messages.info(request, f"Suppression was already {'on' if enabled else 'off'}.")
    elif enabled:
        messages.success(
            request,
            "Suppression is on: ids removed by later deletions are "
            "dropped from ingestion, and so are ids suppressed before.",
        )
    else:
        messages.success(
            request,
            "Suppression is off: ingestion accepts every id again. The "
            "suppressed ids are kept, in case you turn it back on.",
        )
    return redirect("projects:settings", project_id=project.id)


@login_required
@require_http_methods(["POST"])
def project_suppression_lift(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed_project(request, project_id)
    if isinstance(project, HttpResponse):
        return project
    form = SuppressionLiftForm(request.POST)
    if form.is_valid():
        try:
            lifted = suppression_lift(
                project=project,
                distinct_id=form.cleaned_data["distinct_id"],
                actor=web_actor(request),
            )
        except PrivacyRequestError as exc:
            form.add_error(None, str(exc))
        else:
            if lifted:
                # The id itself stays out of the message: messages live in the session.
                messages.success(
                    request,
                    "The suppression of that id was lifted: ingestion "
                    "accepts its events and profile updates again.",
                )
                return redirect("projects:settings", project_id=project.id)
            form.add_error(
                "distinct_id",
                "This id is not suppressed in this project; nothing "
                "changed. Ids are case-sensitive.",
            )
    return _render_settings(request, project, lift_form=form)


@login_required
@require_http_methods(["POST"])
def project_identity_links(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed_project(request, project_id)
    if isinstance(project, HttpResponse):
        return project
    form = IdentityLinksFromForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing changed: choose which identity links join ids.")
        return redirect("projects:settings", project_id=project.id)
    rule = form.cleaned_data["identity_links_from"]
    try:
        changed = identity_links_from_set(project=project, actor=web_actor(request), rule=rule)
    except PrivacyRequestError as exc:
        messages.error(request, f"Nothing changed. {exc}")
        return redirect("projects:settings", project_id=project.id)
    if not changed:
        messages.info(request, "Nothing changed: that was already the rule.")
    elif rule == IdentityLinksFrom.AUTHENTICATED:
        messages.success(
            request,
            "Only links sent with the API secret or a service account join ids now. Links "
            "sent with the project token are kept as unverified evidence, shown for review "
            "before each request.",
        )
    else:
        messages.success(
            request,
            "Every identity link joins ids now, as in Mixpanel, including links sent with the "
            "public project token.",
        )
    return redirect("projects:settings", project_id=project.id)


@login_required
@require_http_methods(["POST"])
def project_event_retention(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _managed_project(request, project_id)
    if isinstance(project, HttpResponse):
        return project
    form = EventRetentionForm(request.POST, current=project.keep_events_months)
    if not form.is_valid():
        return _render_settings(request, project, retention_form=form)
    months = form.cleaned_data["keep_events_months"]
    try:
        changed = keep_events_months_set(project=project, actor=web_actor(request), months=months)
    except PrivacyRequestError as exc:
        messages.error(request, f"Nothing changed. {exc}")
        return redirect("projects:settings", project_id=project.id)
    if not changed:
        messages.info(request, "Nothing changed: that was already the setting.")
    elif months is None:
        messages.success(
            request, "Retention is off: events are kept until a deletion request removes them."
        )
    else:
        messages.success(
            request,
            f"Events are kept for {months} month{'s' if months != 1 else ''}: older ones are "
            "removed within a day, and each removal is recorded in the organization's audit "
            "trail.",
        )
    return redirect("projects:settings", project_id=project.id)
