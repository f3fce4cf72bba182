"""Who may use the Data & Privacy pages (DESIGN section 8).

Anonymous visitors are sent to sign in; another organization's pages, requests and drafts answer
404; members of the organization get 403 with a plain explanation; owners and admins use
everything. Every POST is CSRF-protected; every refusal of a service becomes a form error or a
message, never a 500.
"""

from functools import wraps
from http import HTTPStatus

from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.models import Organization
from accounts.selectors import MANAGER_ROLES, organization_get_for_user
from privacy_requests.models import PrivacyRequest
from privacy_requests.selectors import organization_role, privacy_request_get_for_user
from projects.models import Project


def _forbidden(
    request: HttpRequest, organization: Organization, *, as_json: bool = False
) -> HttpResponse:
    reason = (
        f"Only owners and admins of {organization.name} can see and submit its privacy "
        "requests (data exports and deletions). You are a member: ask an owner or admin if an "
        "end user's data needs exporting or deleting."
    )
    if as_json:
        return JsonResponse({"error": reason}, status=HTTPStatus.FORBIDDEN)
    return render(request, "403.html", {"reason": reason}, status=HTTPStatus.FORBIDDEN)


def privacy_access(
    request: HttpRequest, organization_id: int, *, as_json: bool = False
) -> Organization | HttpResponse:
    """The organization when the signed-in user is one of its owners or admins; otherwise the
    answer: the sign-in page, 404 outside the organization (raised as Http404 for a page), 403
    for its members. Decided from the session alone: the request's body is never read."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    organization = organization_get_for_user(user=request.user, organization_id=organization_id)
    if organization is None:
        if as_json:
            return JsonResponse({"error": "NOT_FOUND"}, status=HTTPStatus.NOT_FOUND)
        raise Http404("No such organization.")
    role = organization_role(user=request.user, organization=organization)
    if role not in MANAGER_ROLES:
        return _forbidden(request, organization, as_json=as_json)
    return organization


def privacy_page(*, as_json: bool = False):
    """Resolves `organization_id` for an owner or admin (privacy_access); the view gets the
    organization instead of the id."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, organization_id: int, *args, **kwargs):
            access = privacy_access(request, organization_id, as_json=as_json)
            if isinstance(access, HttpResponse):
                return access
            return view(request, access, *args, **kwargs)

        return wrapper

    return decorate


def request_or_404(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> PrivacyRequest:
    privacy_request = privacy_request_get_for_user(user=request.user, tracking_id=tracking_id)
    if privacy_request is None or privacy_request.organization_id != organization.id:
        raise Http404("No such request.")
    return privacy_request


def organization_projects(organization: Organization) -> QuerySet[Project]:
    return Project.objects.filter(organization=organization).order_by("name", "id")


def detail_url(privacy_request: PrivacyRequest) -> str:
    return reverse(
        "privacy_web:detail", args=[privacy_request.organization_id, privacy_request.tracking_id]
    )
