# Long: the request lifecycle's models and their choices, kept in one module as Django apps do.
import secrets
import uuid

from django.db import models

TRACKING_ID_MAX_LENGTH = 64


def tracking_id_generate() -> str:
    return secrets.token_hex(16)


def tracking_id_can_exist(value: str) -> bool:
    """False for text that names no request, whatever is stored: empty, longer than the column,
    or holding a NUL, which PostgreSQL refuses even to compare (a 500 rather than a 404)."""
    return 0 < len(value) <= TRACKING_ID_MAX_LENGTH and "\x00" not in value


class RequestKind(models.TextChoices):
    EXPORT = "export", "Export"
    DELETION = "deletion", "Deletion"


class Compliance(models.TextChoices):
    GDPR = "GDPR", "GDPR"
    CCPA = "CCPA", "CCPA"


class Disclosure(models.TextChoices):
    DATA = "Data", "Data"
    CATEGORIES = "Categories", "Categories"
    SOURCES = "Sources", "Sources"


class Status(models.TextChoices):
    PENDING = "PENDING", "Pending"
    STAGING = "STAGING", "Staging"
    STARTED = "STARTED", "Started"
    SUCCESS = "SUCCESS", "Success"
    FAILURE = "FAILURE", "Failure"
    REVOKED = "REVOKED", "Revoked"


# Statuses a request can still leave on its own or by cancel; FAILURE waits for a retry.
UNFINISHED_STATUSES = (Status.PENDING, Status.STAGING, Status.STARTED)
CANCELABLE_STATUSES = (Status.PENDING, Status.STAGING)
FINAL_STATUSES = (Status.SUCCESS, Status.REVOKED)


class AuditAction(models.TextChoices):
    """What an audit entry records; the label is how the pages name it."""

    SUBMITTED = "submitted", "Submitted"
    STAGED = "staged", "Picked up"
    STARTED = "started", "Started"
    RESUMED = "resumed", "Resumed after a worker stopped"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    RETRIED = "retried", "Retried"
    EXTENDED = "extended", "Deadline extended"
    EXPEDITED = "expedited", "Grace period ended early"
    DOWNLOADED = "downloaded", "Downloaded"
    DELETED = "deleted", "Data deleted"
    IDS_SUPPRESSED = "ids_suppressed", "Ids suppressed"
    EXPORT_PURGED = "export_purged", "Export file deleted"
    PSEUDONYMIZED = "pseudonymized", "Ids pseudonymized"
    DUE_REMINDER_SENT = "due_reminder_sent", "Due date reminder sent"
    SUPPRESSION_ENABLED = "suppression_enabled", "Suppression enabled"
    SUPPRESSION_DISABLED = "suppression_disabled", "Suppression disabled"
    SUPPRESSION_LIFTED = "suppression_lifted", "Suppression lifted"
    STAFF_VIEWED_END_USER_DATA = "staff_viewed_end_user_data", "Staff viewed end user data"
    MEMBERSHIP_CHANGED = "membership_changed", "Membership changed"
    SUBJECTS_DECIDED = "subjects_decided", "Linked ids left out or included"
    IDENTITY_LINKS_RULE_CHANGED = "identity_links_rule_changed", "Identity link rule changed"
    INVITATION_SENT = "invitation_sent", "Invitation sent"
    INVITATION_WITHDRAWN = "invitation_withdrawn", "Invitation withdrawn"
    SERVICE_ACCOUNT_CREATED = "service_account_created", "Service account created"
    SERVICE_ACCOUNT_REVOKED = "service_account_revoked", "Service account revoked"
    END_USER_LOOKED_UP = "end_user_looked_up", "End user looked up"
    CALLBACK_ENDPOINT_CREATED = "callback_endpoint_created", "Callback endpoint registered"
    CALLBACK_ENDPOINT_DELETED = "callback_endpoint_deleted", "Callback endpoint removed"
    CALLBACK_SECRET_ROTATED = "callback_secret_rotated", "Callback signing secret rotated"
    APPROVAL_REQUESTED = "approval_requested", "Approval requested"
    APPROVED = "approved", "Approved"
    APPROVAL_REJECTED = "approval_rejected", "Approval rejected"
    APPROVAL_EXPIRED = "approval_expired", "Approval expired"
    EVENT_RETENTION_CHANGED = "event_retention_changed", "Event retention changed"
    EXPIRED_EVENTS_REMOVED = "expired_events_removed", "Expired events removed"
    PROJECT_DELETED = "project_deleted", "Project deleted"


# Whom a deletion awaiting approval waits for (issue 19), as the API and the emails say it.
APPROVAL_NEEDED_FROM = "another owner or admin"


class ApprovalState(models.TextChoices):
    NONE = "", "Not needed"
    AWAITING = "awaiting", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired unapproved"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"


class PrivacyRequest(models.Model):
    """One export or deletion request; the row, not the queue, is the source of truth."""

    tracking_id = models.CharField(
        max_length=TRACKING_ID_MAX_LENGTH, unique=True, default=tracking_id_generate
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="privacy_requests"
    )
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="privacy_requests"
    )
    requested_by = models.CharField(max_length=255, help_text="The actor, as text.")
    # Who to email when the request ends; the text actor above is what the record keeps.
    requester = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=RequestKind.choices)
    compliance = models.CharField(max_length=8, choices=Compliance.choices)
    disclosure = models.CharField(
        max_length=16, choices=Disclosure.choices, default=Disclosure.DATA
    )
    # Issue 18: a CCPA deletion by Categories or Sources removes only these category keys
    # (privacy_requests.property_categories) or these sources (events' `source`, "engage").
    scope = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    received_at = models.DateTimeField()
    due_at = models.DateTimeField()
    extended = models.BooleanField(default=False)
    extension_reason = models.TextField(blank=True)
    not_before = models.DateTimeField(
        help_text="A deletion's grace period ends here; exports may start at once."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=1, help_text="1, plus one per retry.")
    runs = models.PositiveIntegerField(
        default=0, help_text="How many times a worker took the request (crash recoveries add)."
    )
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=32, blank=True)
    # The request's snapshot, taken when it first starts: it covers the events whose
    # `ingested_at` is at or before this moment (privacy_requests.engine.run.snapshot_of).
    # Not an event id: ids do not grow across the shards of a distributed store (issue 20).
    snapshot_at = models.DateTimeField(null=True, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    not_found = models.JSONField(default=list, blank=True)
    # The export ZIP or the deletion receipt, by its name in private storage.
    result_file = models.CharField(max_length=500, blank=True)
    result_size = models.PositiveBigIntegerField(null=True, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    result_expires_at = models.DateTimeField(null=True, blank=True)
    result_purged_at = models.DateTimeField(null=True, blank=True)
    result_purge_reason = models.CharField(max_length=255, blank=True)
    # An export's package per subject (issue 17): [{"file", "bytes", "sha256"}], indexed by
    # RequestSubject.package; purged and expired with result_file.
    result_packages = models.JSONField(default=list, blank=True)
    # The packages are written by a job of their own after SUCCESS (the whole archive is not
    # kept waiting for them); True until that job has stored them all.
    subject_packages_pending = models.BooleanField(default=False)
    # Salt of the subject hashes in a deletion receipt.
    receipt_salt = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    canceled_by = models.CharField(max_length=255, blank=True)
    # Four-eyes approval (issue 19): an AWAITING request stays STAGING and no worker takes it.
    approval_state = models.CharField(
        max_length=16, choices=ApprovalState.choices, default=ApprovalState.NONE, blank=True
    )
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    approval_decided_by = models.CharField(max_length=255, blank=True)
    approval_decided_at = models.DateTimeField(null=True, blank=True)
    approval_reason = models.TextField(blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    subjects_pseudonymized_at = models.DateTimeField(null=True, blank=True)
    # Owners and admins are reminded once, 7 days before the due date (the sweep sends it).
    due_reminder_sent_at = models.DateTimeField(null=True, blank=True)
    # Scheme and host the request was submitted through (checked against ALLOWED_HOSTS): its
    # emails link there when SITE_URL is not set. Empty for commands and the admin.
    site_url = models.CharField(max_length=255, blank=True)
    # Issue 19: the request's own callback URL, under one of its organization's endpoints,
    # which signs and filters its deliveries; and when the overdue event went out.
    callback_url = models.URLField(max_length=500, blank=True)
    callback_endpoint = models.ForeignKey(
        "privacy_requests.CallbackEndpoint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    overdue_event_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-received_at"], name="request_by_organization"),
            models.Index(fields=["status", "due_at"], name="request_by_status_due"),
            models.Index(fields=["project", "kind", "status"], name="request_by_project_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.compliance} {self.kind} {self.tracking_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class RequestSubject(models.Model):
    """A distinct_id the request acts on: given by the requester, or linked to one through its
    identity cluster (recorded when processing starts). Becomes an HMAC 30 days after the
    request is final."""

    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="subjects")
    distinct_id = models.CharField(max_length=255)
    position = models.PositiveIntegerField()
    linked = models.BooleanField(
        default=False, help_text="Found through the identity cluster of a given id."
    )
    included = models.BooleanField(
        default=False,
        help_text=(
            "Not linked by the project's rule: a refused or unverified id a person included "
            "(see SubjectDecision). Also `linked`: it was not given."
        ),
    )
    package = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="An export's subject package holding this id's data (result_packages index).",
    )

    class Meta:
        ordering = ["request_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "distinct_id"], name="request_subject_unique"
            ),
        ]
        indexes = [models.Index(fields=["distinct_id"], name="request_subject_by_id")]

    def __str__(self) -> str:
        return self.distinct_id


class SubjectDecisionKind(models.TextChoices):
    LEFT_OUT = "left_out", "Left out"
    INCLUDED = "included", "Included"


class SubjectDecision(models.Model):
    """A person's choice about one id before the request starts (DESIGN section 5.1): a linked
    id left out of the subject set, or a refused or unverified id included in it. The job
    applies the decisions when it records the subject set; each change is audited. Becomes an
    HMAC with the request's subjects, 30 days after the request is final."""

    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="decisions")
    distinct_id = models.CharField(max_length=255)
    decision = models.CharField(max_length=16, choices=SubjectDecisionKind.choices)
    decided_by = models.CharField(max_length=255, help_text="The actor, as text.")
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["request_id", "distinct_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "distinct_id"], name="subject_decision_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision}: {self.distinct_id}"


class AuditEntry(models.Model):
    """Append-only, one HMAC chain per organization (see privacy_requests.audit)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    seq = models.PositiveBigIntegerField(help_text="Position in the organization's chain, from 1.")
    at = models.DateTimeField()
    actor = models.CharField(max_length=255)
    request = models.ForeignKey(
        PrivacyRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="audit"
    )
    action = models.CharField(max_length=64, choices=AuditAction.choices)
    detail = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["organization_id", "seq"]
        verbose_name_plural = "audit entries"
        constraints = [
            # Even if a lock were bypassed, two entries can never claim the same place.
            models.UniqueConstraint(fields=["organization", "seq"], name="audit_chain_no_fork"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor}"


class IdempotencyKey(models.Model):
    """An API create's Idempotency-Key, for 24 hours: a repeat with the same body gets the first
    request's answer, one with another body a 422. Scoped to its principal (a person or a
    service account); the key is kept only as a keyed hash, since clients may put anything in
    it, and the body as a hash of its canonical form."""

    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    service_account = models.ForeignKey(
        "accounts.ServiceAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    key_hash = models.CharField(max_length=64)
    body_hash = models.CharField(max_length=64)
    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key_hash"],
                condition=models.Q(user__isnull=False),
                name="idempotency_key_unique_per_user",
            ),
            models.UniqueConstraint(
                fields=["service_account", "key_hash"],
                condition=models.Q(service_account__isnull=False),
                name="idempotency_key_unique_per_service_account",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, service_account__isnull=True)
                | models.Q(user__isnull=True, service_account__isnull=False),
                name="idempotency_key_one_principal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_hash[:12]}… → {self.request_id}"


class RequestDraft(models.Model):
    """A request being previewed (DESIGN section 9): the parsed ids wait here, owned by the user
    who uploaded them, with the subject decisions made on the preview (left out, included),
    until confirmed or 15 minutes have passed. Confirming posts only this row's id, which is
    random and checked against its owner."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=RequestKind.choices)
    compliance = models.CharField(max_length=8, choices=Compliance.choices)
    disclosure = models.CharField(max_length=16, choices=Disclosure.choices, blank=True)
    scope = models.JSONField(default=list, blank=True)  # as PrivacyRequest.scope
    distinct_ids = models.JSONField(default=list)
    left_out = models.JSONField(default=list)
    included = models.JSONField(default=list)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} draft {self.id} ({len(self.distinct_ids)} ids)"


class WorkerHeartbeat(models.Model):
    """A running worker, as it last reported itself (privacy_requests.heartbeats). Kept in the
    database, not Redis, so liveness is visible even while Redis is down; a worker that stops
    cleanly removes its row, one that dies leaves it to age."""

    name = models.CharField(max_length=255, unique=True, help_text="The RQ worker's name.")
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    current_tracking_id = models.CharField(
        max_length=TRACKING_ID_MAX_LENGTH,
        blank=True,
        help_text="The request whose job it runs now, if any.",
    )

    class Meta:
        ordering = ["-last_seen_at", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}, pid {self.pid})"


# The callbacks' models live in their own module; importing them here registers them.
from privacy_requests.callbacks.models import (  # noqa: E402, F401
    CallbackDelivery,
    CallbackEndpoint,
    CallbackEvent,
    DeliveryStatus,
)
from privacy_requests.retention.models import RetentionRun  # noqa: E402, F401
