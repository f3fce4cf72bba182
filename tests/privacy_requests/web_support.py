"""Shared helpers of the Data & Privacy page tests."""

from django.urls import reverse

from privacy_requests.models import AuditEntry, DeletionDraft, PrivacyRequest


def list_url(organization) -> str:
    return reverse("privacy_web:list", args=[organization.id])


def export_url(organization) -> str:
    return reverse("privacy_web:export_new", args=[organization.id])


def deletion_url(organization) -> str:
    return reverse("privacy_web:deletion_new", args=[organization.id])


def preview_url(draft) -> str:
    return reverse("privacy_web:deletion_preview", args=[draft.organization_id, draft.id])


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
        "drafts": sorted(DeletionDraft.objects.values_list("id", flat=True)),
    }
