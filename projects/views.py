from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.actors import web_actor
from accounts.models import Organization
from accounts.selectors import MANAGER_ROLES, organization_list_for_user
from projects.errors import ProjectsError
from projects.forms import ProjectCreateForm
from projects.selectors import project_list_for_user
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
            # The secret is rendered in this response only; it is never stored in clear.
            response = render(
                request, "projects/project_created.html", {"project": project, "api_secret": secret}
            )
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "projects/project_form.html", {"form": form})
