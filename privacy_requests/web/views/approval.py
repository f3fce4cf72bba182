"""Approving or rejecting a large deletion from its page (issue 19, section 2). The page itself
is the request's detail page; this view takes only the POST of its decision form, CSRF-checked
like every POST. Who may decide is the service's call (services/approval.py)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.actors import web_actor
from accounts.models import Organization
from privacy_requests.errors import PrivacyRequestError
from privacy_requests.services.approval import privacy_request_approve, privacy_request_reject
from privacy_requests.web.forms import ApprovalDecisionForm
from privacy_requests.web.views.access import detail_url, privacy_page, request_or_404


@privacy_page()
@require_POST
def request_approval(
    request: HttpRequest, organization: Organization, tracking_id: str
) -> HttpResponse:
    privacy_request = request_or_404(request, organization, tracking_id)
    form = ApprovalDecisionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect(detail_url(privacy_request))
    approve = form.cleaned_data["decision"] == "approve"
    decide = privacy_request_approve if approve else privacy_request_reject
    try:
        decide(
            request=privacy_request, actor=web_actor(request), reason=form.cleaned_data["reason"]
        )
    except PrivacyRequestError as exc:
        messages.error(request, f"Nothing was decided. {exc}")
    else:
        messages.success(
            request,
            "Approved: the deletion runs now."
            if approve
            else "Rejected: the deletion will not be carried out.",
        )
    return redirect(detail_url(privacy_request))
