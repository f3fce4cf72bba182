from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.organization_settings import (
    DeletionApprovalForm,
    PrivacyContactForm,
    organization_deletion_approval_set,
    organization_privacy_contact_set,
)
from accounts.selectors import can_manage_members, membership_get, organization_get_for_user


@login_required
@require_http_methods(["GET", "POST"])
def organization_settings(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = organization_get_for_user(user=request.user, organization_id=organization_id)
    if organization is None:
        raise Http404("No such organization.")
    if not can_manage_members(user=request.user, organization=organization):
        reason = (
            f"Only owners and admins of {organization.name} can change its settings. "
            "Ask one of them if something needs changing."
        )
        return render(request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN)
    # Two forms on one page; the button pressed says which was sent.
    section = request.POST.get("section", "privacy_contact") if request.method == "POST" else None
    form = PrivacyContactForm(
        request.POST if section == "privacy_contact" else None,
        initial={"privacy_contact": organization.privacy_contact},
    )
    approval_form = DeletionApprovalForm(
        request.POST if section == "deletion_approval" else None,
        initial={
            "approval_subjects_over": organization.approval_subjects_over,
            "approval_events_over": organization.approval_events_over,
        },
    )
    if section == "privacy_contact" and form.is_valid():
        organization_privacy_contact_set(
            user=request.user,
            organization=organization,
            contact=form.cleaned_data["privacy_contact"],
        )
        messages.success(request, "The privacy contact was saved.")
        return redirect("accounts:organization_settings", organization_id=organization.id)
    if section == "deletion_approval" and approval_form.is_valid():
        organization_deletion_approval_set(
            user=request.user,
            organization=organization,
            subjects_over=approval_form.cleaned_data["approval_subjects_over"],
            events_over=approval_form.cleaned_data["approval_events_over"],
        )
        messages.success(request, "The approval limits for deletions were saved.")
        return redirect("accounts:organization_settings", organization_id=organization.id)
    membership = membership_get(user=request.user, organization=organization)
    return render(
        request,
        "accounts/organization_settings.html",
        {
            "organization": organization,
            "form": form,
            "approval_form": approval_form,
            "actor_role": membership.role if membership else None,
        },
    )
