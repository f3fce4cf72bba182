from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.errors import AccountsError
from accounts.forms import GdprTokenResetForm, InvitationForm, MemberRoleForm, roles_assignable_by
from accounts.invitation_views import invitation_rows, invitation_send
from accounts.invitations import invitation_create
from accounts.invitations import invitation_revoke as invitation_revoke_service
from accounts.models import Organization, Role
from accounts.selectors import (
    MANAGER_ROLES,
    can_manage_members,
    can_use_gdpr_token,
    gdpr_token_get,
    invitation_get_in_organization,
    membership_get,
    membership_get_by_email,
    membership_get_in_organization,
    membership_list,
    organization_get_for_user,
)
from accounts.services import gdpr_token_reset as gdpr_token_reset_service
from accounts.services import membership_change_role, membership_remove
from accounts.shown_once import secret_keep_for_display, secret_take_for_display

MEMBERSHIP_GONE = "This person is no longer a member of the organization."


SHOWN_ONCE_NAME = "gdpr-token"  # the session key of the token to show


@login_required
def personal_settings(request: HttpRequest) -> HttpResponse:
    gdpr_token = gdpr_token_get(user=request.user)
    form = GdprTokenResetForm(has_token=gdpr_token is not None)
    return _render_personal_settings(request, form=form, gdpr_token=gdpr_token)


@login_required
@require_http_methods(["GET", "POST"])
def gdpr_token_reset(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return redirect(reverse("accounts:personal_settings") + "#data-privacy")
    if not can_use_gdpr_token(user=request.user):
        reason = (
            "A GDPR API token works only for owners and admins of an organization, and you are "
            "neither in any organization. Ask an owner to make you an admin if you need one."
        )
        return render(request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN)
    gdpr_token = gdpr_token_get(user=request.user)
    # Built from the current state, so a token created in another tab still needs the
    # confirmation before it is replaced.
    form = GdprTokenResetForm(request.POST, has_token=gdpr_token is not None)
    if not form.is_valid():
        return _render_personal_settings(request, form=form, gdpr_token=gdpr_token)
    raw_token = gdpr_token_reset_service(user=request.user)
    # Post/redirect/get: a reload of the page that shows the token must not reset it again.
    secret_keep_for_display(request, name=SHOWN_ONCE_NAME, secret=raw_token)
    request.session["gdpr-token-replaced"] = gdpr_token is not None
    return redirect("accounts:gdpr_token_created")


@login_required
@require_http_methods(["GET"])
def gdpr_token_created(request: HttpRequest) -> HttpResponse:
    raw_token = secret_take_for_display(request, name=SHOWN_ONCE_NAME)
    response = render(
        request,
        "accounts/gdpr_token_created.html",
        {
            "raw_token": raw_token,
            "gdpr_token": gdpr_token_get(user=request.user),
            "replaced": request.session.pop("gdpr-token-replaced", False),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


def _render_personal_settings(request, *, form, gdpr_token) -> HttpResponse:
    return render(
        request,
        "accounts/personal_settings.html",
        {
            "form": form,
            "gdpr_token": gdpr_token,
            "can_use_gdpr_token": can_use_gdpr_token(user=request.user),
        },
    )


def _organization_or_404(request: HttpRequest, organization_id: int) -> Organization:
    organization = organization_get_for_user(user=request.user, organization_id=organization_id)
    if organization is None:
        raise Http404("No such organization.")
    return organization


def _manager_role(request: HttpRequest, organization: Organization) -> Role | None:
    membership = membership_get(user=request.user, organization=organization)
    if membership is None or membership.role not in MANAGER_ROLES:
        return None
    return Role(membership.role)


def _forbidden(request: HttpRequest, organization: Organization) -> HttpResponse:
    reason = (
        f"Only owners and admins of {organization.name} can see and manage its members. "
        "Ask one of them if you need to change who has access."
    )
    return render(request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN)


def _redirect_after_change(request: HttpRequest, organization: Organization) -> HttpResponse:
    # Someone who just demoted or removed themselves can no longer see the members page.
    if can_manage_members(user=request.user, organization=organization):
        return redirect("accounts:members", organization_id=organization.id)
    return redirect("home")


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = _organization_or_404(request, organization_id)
    actor_role = _manager_role(request, organization)
    if actor_role is None:
        return _forbidden(request, organization)
    form = InvitationForm(
        request.POST if request.method == "POST" else None,
        roles=roles_assignable_by(actor_role),
    )
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        existing = membership_get_by_email(organization=organization, email=email)
        if existing is not None:
            form.add_error(
                "email",
                f"{existing.user.email} is already a member ({existing.get_role_display()}). "
                "Change their role in the list instead.",
            )
        else:
            try:
                invitation, raw_token = invitation_create(
                    actor=web_actor(request),
                    organization=organization,
                    email=email,
                    role=form.cleaned_data["role"],
                )
            except AccountsError as exc:
                form.add_error(None, str(exc))
            else:
                invitation_send(request, invitation=invitation, raw_token=raw_token)
                return redirect("accounts:members", organization_id=organization.id)
    return render(
        request,
        "accounts/members.html",
        {
            "organization": organization,
            "actor_role": actor_role,
            "rows": _member_rows(request, organization, actor_role),
            "invitations": invitation_rows(organization=organization, actor_role=actor_role),
            "invitation_lifetime_days": settings.PRIVACY_INVITATION_LIFETIME_DAYS,
            "form": form,
        },
    )


def _member_rows(request: HttpRequest, organization: Organization, actor_role: Role) -> list:
    memberships = list(membership_list(organization=organization))
    owner_count = sum(1 for membership in memberships if membership.role == Role.OWNER)
    roles = roles_assignable_by(actor_role)
    rows = []
    for membership in memberships:
        note = ""
        if membership.role == Role.OWNER and actor_role != Role.OWNER:
            note = "Only owners can change or remove an owner."
        elif membership.role == Role.OWNER and owner_count == 1:
            note = "The only owner: make someone else owner before changing this role."
        editable = not note
        rows.append(
            {
                "membership": membership,
                "is_self": membership.user_id == request.user.id,
                "note": note,
                "can_remove": editable,
                "role_form": MemberRoleForm(
                    initial={"role": membership.role},
                    roles=roles,
                    auto_id=f"id_member_{membership.id}_%s",
                )
                if editable
                else None,
            }
        )
    return rows


@login_required
@require_http_methods(["POST"])
def member_role(request: HttpRequest, organization_id: int, membership_id: int) -> HttpResponse:
    organization = _organization_or_404(request, organization_id)
    actor_role = _manager_role(request, organization)
    if actor_role is None:
        return _forbidden(request, organization)
    membership = membership_get_in_organization(
        organization=organization, membership_id=membership_id
    )
    if membership is None:
        messages.error(request, MEMBERSHIP_GONE)
        return redirect("accounts:members", organization_id=organization.id)
    form = MemberRoleForm(request.POST, roles=roles_assignable_by(actor_role))
    if not form.is_valid():
        reason = " ".join(form.errors.get("role", ["Choose a role."]))
        messages.error(request, f"The role of {membership.user.email} was not changed. {reason}")
        return redirect("accounts:members", organization_id=organization.id)
    try:
        membership = membership_change_role(
            actor=web_actor(request),
            membership=membership,
            role=form.cleaned_data["role"],
        )
    except AccountsError as exc:
        messages.error(request, f"The role of {membership.user.email} was not changed. {exc}")
        return redirect("accounts:members", organization_id=organization.id)
    messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    return _redirect_after_change(request, organization)


@login_required
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, organization_id: int, membership_id: int) -> HttpResponse:
    organization = _organization_or_404(request, organization_id)
    actor_role = _manager_role(request, organization)
    if actor_role is None:
        return _forbidden(request, organization)
    membership = membership_get_in_organization(
        organization=organization, membership_id=membership_id
    )
    if membership is None:
        messages.error(request, MEMBERSHIP_GONE)
        return redirect("accounts:members", organization_id=organization.id)
    if request.method == "GET":
        return render(
            request,
            "accounts/member_remove.html",
            {
                "organization": organization,
                "membership": membership,
                "is_self": membership.user_id == request.user.id,
            },
        )
    email = membership.user.email
    try:
        membership_remove(actor=web_actor(request), membership=membership)
    except AccountsError as exc:
        messages.error(request, f"{email} was not removed. {exc}")
        return redirect("accounts:members", organization_id=organization.id)
    messages.success(request, f"{email} was removed from {organization.name}.")
    return _redirect_after_change(request, organization)


@login_required
@require_http_methods(["POST"])
def invitation_revoke(
    request: HttpRequest, organization_id: int, invitation_id: int
) -> HttpResponse:
    organization = _organization_or_404(request, organization_id)
    actor_role = _manager_role(request, organization)
    if actor_role is None:
        return _forbidden(request, organization)
    invitation = invitation_get_in_organization(
        organization=organization, invitation_id=invitation_id
    )
    if invitation is None:
        messages.error(request, "This invitation no longer exists.")
        return redirect("accounts:members", organization_id=organization.id)
    try:
        invitation_revoke_service(actor=web_actor(request), invitation=invitation)
    except AccountsError as exc:
        messages.error(request, f"The invitation to {invitation.email} was not withdrawn. {exc}")
    else:
        messages.success(
            request,
            f"The invitation to {invitation.email} was withdrawn: its link no longer works.",
        )
    return redirect("accounts:members", organization_id=organization.id)
