"""An organization's service accounts page (/orgs/<id>/service-accounts/): owners create, list
and revoke them. Served by projects, not accounts, because an account is granted projects.

Another organization's page answers 404; its admins and members get 403 with the reason; the
secret is shown once, on the page the creation redirects to, never cached.
"""

from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.errors import AccountsError
from accounts.models import Organization, ServiceAccount
from accounts.selectors import (
    is_owner,
    organization_get_for_user,
    service_account_get_in_organization,
    service_account_list,
)
from accounts.service_accounts import service_account_revoke as service_account_revoke_service
from accounts.shown_once import secret_keep_for_display, secret_take_for_display
from projects.errors import ProjectsError
from projects.forms import ServiceAccountCreateForm
from projects.selectors import project_list_for_organization, service_account_projects
from projects.services import service_account_create_with_grants


def _organization_for_owner(
    request: HttpRequest, organization_id: int
) -> tuple[Organization, HttpResponse | None]:
    """The organization, and the refusal to answer instead when the user is not its owner."""
    organization = organization_get_for_user(user=request.user, organization_id=organization_id)
    if organization is None:
        raise Http404("No such organization.")
    if is_owner(user=request.user, organization=organization):
        return organization, None
    reason = (
        f"Only owners of {organization.name} can see and manage its service accounts: they "
        "hold credentials to its projects' data. Ask an owner if a script or platform needs one."
    )
    return organization, render(
        request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN
    )


def _state(account: ServiceAccount, now) -> str:
    if account.revoked_at is not None:
        return "revoked"
    if account.expires_at is not None and account.expires_at <= now:
        return "expired"
    return "active"


def _secret_name(account: ServiceAccount) -> str:
    return f"service-account:{account.id}"


@login_required
@require_http_methods(["GET"])
def service_account_created(
    request: HttpRequest, organization_id: int, service_account_id: int
) -> HttpResponse:
    """The new account's secret, shown once from the session; a reload says it was shown."""
    organization, refusal = _organization_for_owner(request, organization_id)
    if refusal is not None:
        return refusal
    account = service_account_get_in_organization(
        organization=organization, service_account_id=service_account_id
    )
    if account is None:
        raise Http404("No such service account.")
    response = render(
        request,
        "projects/service_account_created.html",
        {
            "organization": organization,
            "account": account,
            "secret": secret_take_for_display(request, name=_secret_name(account)),
            "projects": service_account_projects(service_accounts=[account])[account.id],
            "base_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def service_accounts(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization, refusal = _organization_for_owner(request, organization_id)
    if refusal is not None:
        return refusal
    projects = project_list_for_organization(organization=organization)
    form = ServiceAccountCreateForm(
        request.POST if request.method == "POST" else None, projects=projects
    )
    if request.method == "POST" and form.is_valid():
        try:
            account, secret = service_account_create_with_grants(
                actor=web_actor(request),
                organization=organization,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                projects=list(form.cleaned_data["projects"]),
                expires_at=form.expires_at(),
            )
        except (AccountsError, ProjectsError) as exc:
            form.add_error(None, str(exc))
        else:
            # Post/redirect/get: a reload must not create another account (issue 17, item 2).
            secret_keep_for_display(request, name=_secret_name(account), secret=secret)
            return redirect(
                "service_accounts:created",
                organization_id=organization.id,
                service_account_id=account.id,
            )
    accounts = list(service_account_list(organization=organization))
    granted = service_account_projects(service_accounts=accounts)
    now = timezone.now()
    rows = [
        {"account": account, "projects": granted[account.id], "state": _state(account, now)}
        for account in accounts
    ]
    return render(
        request,
        "projects/service_accounts.html",
        {
            "organization": organization,
            "actor_role": "owner",
            "rows": rows,
            "form": form,
            "has_projects": projects.exists(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def service_account_revoke(
    request: HttpRequest, organization_id: int, service_account_id: int
) -> HttpResponse:
    organization, refusal = _organization_for_owner(request, organization_id)
    if refusal is not None:
        return refusal
    account = service_account_get_in_organization(
        organization=organization, service_account_id=service_account_id
    )
    if account is None:
        raise Http404("No such service account.")
    if request.method == "GET":
        return render(
            request,
            "projects/service_account_revoke.html",
            {"organization": organization, "account": account},
        )
    try:
        service_account_revoke_service(actor=web_actor(request), service_account=account)
    except AccountsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{account.name} ({account.username}) was revoked: it can no longer sign in."
        )
    return redirect("service_accounts:list", organization_id=organization.id)
