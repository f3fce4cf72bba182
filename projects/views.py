from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.models import Organization
from accounts.selectors import MANAGER_ROLES, organization_list_for_user
from accounts.shown_once import secret_keep_for_display, secret_take_for_display
from projects.errors import ProjectsError
from projects.forms import ProjectCreateForm
from projects.selectors import project_get_for_user, project_list_for_user
from projects.services import project_create as project_create_service


def _organizations_managed_by(user) -> "list[Organization]":
    return organization_list_for_user(user=user).filter(
        memberships__user=user, memberships__role__in=MANAGER_ROLES
    )


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    managed_ids = set(_organizations_managed_by(request.user).values_list("id", flat=True))
    return render(
        request,
        "projects/project_list.html",
        {
            "projects": project_list_for_user(user=request.user),
            "organizations": organization_list_for_user(user=request.user),
            "can_create": bool(managed_ids),
            "managed_ids": managed_ids,
        },
    )


@login_required
def project_create(request: HttpRequest) -> HttpResponse:
    organizations = _organizations_managed_by(request.user)
    if not organizations.exists():
        return render(
            request,
            "403.html",
            {"reason": "Only owners and admins of an organization can create its projects."},
            status=403,
        )
    form = ProjectCreateForm(request.POST or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        try:
            project, secret = project_create_service(
                actor=web_actor(request),
                organization=form.cleaned_data["organization"],
                name=form.cleaned_data["name"],
            )
        except ProjectsError as exc:
            form.add_error("name", str(exc))
        else:
            # Post/redirect/get: a reload must not create another project (issue 17, item 2).
            secret_keep_for_display(request, name=_secret_name(project.id), secret=secret)
            return redirect("projects:created", project_id=project.id)
    return render(request, "projects/project_form.html", {"form": form})


def _secret_name(project_id: int) -> str:
    return f"api-secret:{project_id}"


@login_required
@require_http_methods(["GET"])
def project_created(request: HttpRequest, project_id: int) -> HttpResponse:
    """The new project's API secret, shown once from the session; a reload says it was shown."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    if project is None:
        raise Http404("No such project.")
    response = render(
        request,
        "projects/project_created.html",
        {
            "project": project,
            "api_secret": secret_take_for_display(request, name=_secret_name(project.id)),
        },
    )
    response["Cache-Control"] = "no-store"
    return response
