"""Signed callbacks (issue 19): an organization's registered endpoints and each delivery to them.

Kept beside privacy_requests.models, which imports them, so that the app's models stay one
import while that module stays readable."""

from django.db import models


class CallbackEvent(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REVOKED = "revoked", "Revoked"
    OVERDUE = "overdue", "Overdue"


class CallbackEndpoint(models.Model):
    """Where an organization wants to hear about its requests. The URL is also a prefix: a
    request may name its own `callback_url` under it. The signing secret must be kept as is
    (an HMAC needs the key itself); the pages show it once and the admin never."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="callback_endpoints"
    )
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="CallbackEvent values it subscribes to.")
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Only this project's requests; empty for all of the organization's.",
    )
    include_distinct_ids = models.BooleanField(default=False)
    include_download_link = models.BooleanField(default=False)
    secret = models.CharField(max_length=100, help_text="whsec_ and the base64 key.")
    created_by = models.CharField(max_length=255, help_text="The actor, as text.")
    created_at = models.DateTimeField()
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organization_id", "id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Gave up"
    REFUSED = "refused", "Refused (unsafe address)"


class CallbackDelivery(models.Model):
    """One event for one endpoint. The row is written in the transaction of the status change
    and only then enqueued, so a Redis outage loses none: the sweep sends what is due. The body
    is built at each attempt from the request as it is then, so no row keeps distinct_ids or a
    download link."""

    delivery_id = models.CharField(max_length=64, unique=True, help_text="The webhook-id header.")
    endpoint = models.ForeignKey(
        CallbackEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    request = models.ForeignKey(
        "privacy_requests.PrivacyRequest", on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=16, choices=CallbackEvent.choices)
    url = models.URLField(max_length=500, help_text="The endpoint's, or the request's own.")
    occurred_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    retry_until = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "callback deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="callback_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.url} ({self.status})"
