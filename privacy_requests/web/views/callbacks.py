"""The organization's callback endpoints (issue 19): /orgs/<id>/settings/callbacks/. Owners and
admins, as for the rest of the organization's settings; 404 outside the organization, 403 with
the reason for its members. The signing secret is shown once (accounts.shown_once)."""

from http import HTTPStatus

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.models import Organization
from accounts.selectors import can_manage_members, membership_get, organization_get_for_user
from accounts.shown_once import secret_keep_for_display, secret_take_for_display
from privacy_requests.callbacks.deliveries import callback_delivery_resend
from privacy_requests.callbacks.endpoints import (
    callback_endpoint_create,
    callback_endpoint_delete,
    callback_endpoint_get_for_user,
    callback_endpoint_list,
    callback_endpoint_rotate_secret,
)
from privacy_requests.callbacks.models import CallbackEndpoint
from privacy_requests.errors import InvalidRequest, PrivacyRequestError
from privacy_requests.web.callback_forms import CallbackEndpointForm
from projects.models import Project

DELIVERY_LOG_LENGTH = 50


def _managed_organization(
    request: HttpRequest, organization_id: int
) -> Organization | HttpResponse:
    organization = organization_get_for_user(user=request.user, organization_id=organization_id)
    if organization is None:
        raise Http404("No such organization.")
    if not can_manage_members(user=request.user, organization=organization):
        reason = (
            f"Only owners and admins of {organization.name} can see and change its callbacks. "
            "Ask one of them if something needs changing."
        )
        return render(request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN)
    return organization


def _endpoint(request: HttpRequest, organization: Organization, endpoint_id: int):
    endpoint = callback_endpoint_get_for_user(
        user=request.user, organization=organization, endpoint_id=endpoint_id
    )
    if endpoint is None:
        raise Http404("No such callback endpoint.")
    return endpoint


def _context(request: HttpRequest, organization: Organization, **extra) -> dict:
    membership = membership_get(user=request.user, organization=organization)
    return {
        "organization": organization,
        "actor_role": membership.role if membership else None,
        **extra,
    }


def _secret_name(endpoint: CallbackEndpoint) -> str:
    return f"callback-secret:{endpoint.id}"


@login_required
@require_http_methods(["GET", "POST"])
def callbacks(request: HttpRequest, organization_id: int) -> HttpResponse:
    organization = _managed_organization(request, organization_id)
    if isinstance(organization, HttpResponse):
        return organization
    projects = Project.objects.filter(organization=organization).order_by("name")
    form = CallbackEndpointForm(
        request.POST if request.method == "POST" else None, projects=projects
    )
    status = HTTPStatus.OK
    if request.method == "POST":
        if form.is_valid():
            try:
                endpoint = callback_endpoint_create(
                    actor=web_actor(request),
                    organization=organization,
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                    project=form.cleaned_data["project"],
                    include_distinct_ids=form.cleaned_data["include_distinct_ids"],
                    include_download_link=form.cleaned_data["include_download_link"],
                )
            except InvalidRequest as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                secret_keep_for_display(
                    request, name=_secret_name(endpoint), secret=endpoint.secret
                )
                return redirect(
                    "privacy_web:callback_secret",
                    organization_id=organization.id,
                    endpoint_id=endpoint.id,
                )
        status = HTTPStatus.BAD_REQUEST
    return render(
        request,
        "privacy_requests/callbacks.html",
        _context(
            request,
            organization,
            form=form,
            endpoints=callback_endpoint_list(organization=organization),
        ),
        status=status,
    )


@login_required
@require_http_methods(["GET"])
def callback_endpoint(request: HttpRequest, organization_id: int, endpoint_id: int) -> HttpResponse:
    organization = _managed_organization(request, organization_id)
    if isinstance(organization, HttpResponse):
        return organization
    endpoint = _endpoint(request, organization, endpoint_id)
    deliveries = endpoint.deliveries.select_related("request").order_by("-occurred_at", "-id")
    return render(
        request,
        "privacy_requests/callback_endpoint.html",
        _context(
            request,
            organization,
            endpoint=endpoint,
            deliveries=deliveries[:DELIVERY_LOG_LENGTH],
        ),
    )


@login_required
@require_http_methods(["GET"])
def callback_secret(request: HttpRequest, organization_id: int, endpoint_id: int) -> HttpResponse:
    organization = _managed_organization(request, organization_id)
    if isinstance(organization, HttpResponse):
        return organization
    endpoint = _endpoint(request, organization, endpoint_id)
    response = render(
        request,
        "privacy_requests/callback_secret.html",
        _context(
            request,
            organization,
            endpoint=endpoint,
            secret=secret_take_for_display(request, name=_secret_name(endpoint)),
        ),
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["POST"])
def callback_rotate(request: HttpRequest, organization_id: int, endpoint_id: int) -> HttpResponse:
    organization = _managed_organization(request, organization_id)
    if isinstance(organization, HttpResponse):
        return organization
    endpoint = _endpoint(request, organization, endpoint_id)
    secret = callback_endpoint_rotate_secret(actor=web_actor(request), endpoint=endpoint)
    secret_keep_for_display(request, name=_secret_name(endpoint), secret=secret)
    return redirect(
        "privacy_web:callback_secret", organization_id=organization.id, endpoint_id=endpoint.id
    )


@login_required
@require_http_methods(["POST"])
def callback_delete(request: HttpRequest, organization_id: int, endpoint_id: int) -> HttpResponse:
    organization = _managed_organization(request, organization_id)
    if isinstance(organization, HttpResponse):
        return organization
    endpoint = _endpoint(request, organization, endpoint_id)
    url = endpoint.url
    callback_endpoint_delete(actor=web_actor(request), endpoint=endpoint)
    messages.success(request, f"The callback endpoint {url} was removed.")
    return redirect("privacy_web:callbacks", organization_id=organization.id)


@login_required
@require_http_methods(["POST"])
def callback_resend(
    request: HttpRequest, organization_id: int, endpoint_id: int, delivery_id: int
) -> HttpResponse:
    organization = _managed_organization(request, organization_id)
    if isinstance(organization, HttpResponse):
        return organization
    endpoint = _endpoint(request, organization, endpoint_id)
    delivery = endpoint.deliveries.filter(id=delivery_id).first()
    if delivery is None:
        raise Http404("No such delivery.")
    try:
        callback_delivery_resend(actor=web_actor(request), delivery=delivery)
    except PrivacyRequestError as exc:
        messages.error(request, f"Nothing was sent. {exc}")
    else:
        messages.success(request, f"The {delivery.event} callback will be sent again now.")
    return redirect(
        "privacy_web:callback_endpoint", organization_id=organization.id, endpoint_id=endpoint.id
    )
