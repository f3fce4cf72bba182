"""Shared helpers of the Data & Privacy page tests."""

from django.urls import reverse

from privacy_requests.models import AuditEntry, PrivacyRequest, RequestDraft


def list_url(organization) -> str:
    return reverse("privacy_web:list", args=[organization.id])


def export_url(organization) -> str:
    return reverse("privacy_web:export_new", args=[organization.id])


def deletion_url(organization) -> str:
    return reverse("privacy_web:deletion_new", args=[organization.id])


def preview_url(draft) -> str:
    name = "export_preview" if draft.kind == "export" else "deletion_preview"
    return reverse(f"privacy_web:{name}", args=[draft.organization_id, draft.id])


def detail_url(request) -> str:
    return reverse("privacy_web:detail", args=[request.organization_id, request.tracking_id])


def status_url(request) -> str:
    return reverse("privacy_web:status", args=[request.organization_id, request.tracking_id])


def cancel_url(request) -> str:
    return reverse("privacy_web:cancel", args=[request.organization_id, request.tracking_id])


def retry_url(request) -> str:
    return reverse("privacy_web:retry", args=[request.organization_id, request.tracking_id])


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def snapshot() -> dict:
    """Everything a refused action must leave as it was."""
    return {
        "requests": sorted(PrivacyRequest.objects.values_list("tracking_id", "status", "attempts")),
        "audit": AuditEntry.objects.count(),
        "drafts": sorted(RequestDraft.objects.values_list("id", flat=True)),
    }


def export_submit(client, organization, data, **kwargs):
    """Posts the export form, then submits its preview as a person would: the response of the
    submission (or the form's, when the form refused the post)."""
    response = client.post(export_url(organization), data)
    if response.status_code != 302 or "/privacy/export/" not in response.url:
        return response
    return client.post(response.url, {"action": "submit"}, **kwargs)
