"""Shapes of the GDPR API for the OpenAPI schema. Validation itself lives in the submit
service, so the API, the web forms and the admin refuse exactly the same inputs."""

from datetime import UTC, datetime

from rest_framework import serializers

from privacy_requests.models import (
    APPROVAL_NEEDED_FROM,
    Compliance,
    Disclosure,
    PrivacyRequest,
    Status,
)

# Mixpanel's GDPR API writes `date_requested` so: UTC, no fraction, no offset.
MIXPANEL_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
MIXPANEL_DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"


def mixpanel_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime(MIXPANEL_DATETIME_FORMAT)


class RetrievalCreateSerializer(serializers.Serializer):
    distinct_ids = serializers.ListField(
        child=serializers.CharField(max_length=255), min_length=1, max_length=2000
    )
    compliance_type = serializers.ChoiceField(
        choices=Compliance.choices, required=False, help_text="GDPR (default) or CCPA; any case."
    )
    disclosure_type = serializers.ChoiceField(
        choices=Disclosure.choices,
        required=False,
        help_text="Data (default), Categories or Sources (CCPA only); any case.",
    )
    callback_url = serializers.URLField(
        required=False,
        help_text=(
            "An addition to Mixpanel's API: where this request's signed callbacks go. It must lie "
            "under the URL of one of the organization's registered callback endpoints that covers "
            "the project (else 400)."
        ),
    )


class DeletionCreateSerializer(serializers.Serializer):
    distinct_ids = serializers.ListField(
        child=serializers.CharField(max_length=255), min_length=1, max_length=2000
    )
    compliance_type = serializers.ChoiceField(choices=Compliance.choices, required=False)
    disclosure_type = serializers.ChoiceField(
        choices=Disclosure.choices,
        required=False,
        help_text=(
            "An addition to Mixpanel's shape: Data (default, everything), Categories or Sources; "
            "CCPA only."
        ),
    )
    categories = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="With Categories: contact, identifiers, device, location, activity, "
        "marketing, purchases, custom.",
    )
    sources = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text='With Sources: sources as in the export\'s sources.json ("engage" = profile).',
    )
    callback_url = serializers.URLField(
        required=False,
        help_text=(
            "An addition to Mixpanel's API: where this request's signed callbacks go. It must lie "
            "under the URL of one of the organization's registered callback endpoints that covers "
            "the project (else 400)."
        ),
    )


class TaskIdSerializer(serializers.Serializer):
    task_id = serializers.CharField()


class CreatedSerializer(serializers.Serializer):
    status = serializers.CharField(default="ok")
    results = TaskIdSerializer()


class RetrievalStatusResultsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    result = serializers.CharField(help_text="Signed download URL once SUCCESS, else empty.")
    distinct_ids = serializers.ListField(child=serializers.CharField())
    reached_distinct_ids = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            "An addition to Mixpanel's shape: once the request is SUCCESS or FAILURE, every id "
            "it reached (the given ids that had data, the ids the project's identity link rule "
            "linked to them, and the ids a person included), given ones first; empty before."
        ),
    )


class SubjectResultSerializer(serializers.Serializer):
    distinct_id = serializers.CharField(help_text="The subject's first given id.")
    reached_distinct_ids = serializers.ListField(
        child=serializers.CharField(),
        help_text="The ids this subject's package holds data of: its given ids, then linked.",
    )
    result = serializers.CharField(
        help_text=(
            "Signed download URL of this subject's package alone; empty while the packages are "
            "written (`subject_results_pending`) and once expired."
        )
    )


class RetrievalResultsSerializer(RetrievalStatusResultsSerializer):
    subject_results = SubjectResultSerializer(
        many=True,
        help_text=(
            "An addition to Mixpanel's shape: once SUCCESS, one package per "
            "subject (a given id with its linked ids; given ids in one identity cluster are one "
            "subject), holding that person's data only, beside `result`, the whole archive."
        ),
    )
    subject_results_pending = serializers.BooleanField(
        help_text=(
            "An addition: true for the few seconds after SUCCESS in which the per-subject "
            "packages are still being written (their `result` links are empty until then); "
            "`result`, the whole archive, is ready at SUCCESS."
        ),
    )


class DeletionStatusResultsSerializer(RetrievalStatusResultsSerializer):
    result = serializers.CharField(help_text="Signed receipt URL once SUCCESS, else empty.")
    tracking_id = serializers.CharField()
    requesting_user = serializers.CharField()
    compliance_type = serializers.ChoiceField(choices=Compliance.choices)
    project_id = serializers.IntegerField()
    # Not an RFC 3339 date-time (it has no offset): a string of this exact shape.
    date_requested = serializers.RegexField(
        MIXPANEL_DATETIME_PATTERN,
        help_text="When the request was received, in UTC, as Mixpanel writes it: "
        "YYYY-MM-DDTHH:MM:SS (no fraction, no offset).",
    )


class RetrievalStatusSerializer(serializers.Serializer):
    status = serializers.CharField(default="ok")
    results = RetrievalResultsSerializer()


class DeletionStatusSerializer(serializers.Serializer):
    status = serializers.CharField(default="ok")
    results = DeletionStatusResultsSerializer()


class ErrorSerializer(serializers.Serializer):
    status = serializers.CharField(default="error")
    error = serializers.CharField()


class ConflictDetailSerializer(serializers.Serializer):
    error = serializers.CharField()
    conflicting_distinct_ids = serializers.ListField(child=serializers.CharField())
    conflicting_task_ids = serializers.ListField(child=serializers.CharField())


class ConflictSerializer(serializers.Serializer):
    status = serializers.CharField(default="error")
    error = ConflictDetailSerializer()


class PrivacyRequestListItemSerializer(serializers.Serializer):
    task_id = serializers.CharField(source="tracking_id")
    kind = serializers.CharField()
    compliance_type = serializers.CharField(source="compliance")
    disclosure_type = serializers.CharField(source="disclosure")
    status = serializers.CharField()
    project_id = serializers.IntegerField()
    organization_id = serializers.IntegerField()
    requesting_user = serializers.CharField(source="requested_by")
    channel = serializers.CharField()
    date_requested = serializers.DateTimeField(source="received_at")
    due_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    progress = serializers.JSONField()
    counts = serializers.JSONField()


def approval_resource(request: PrivacyRequest) -> dict:
    """The four-eyes approval of a large deletion (issue 19): who asked, whom it waits for,
    until when; once decided, by whom, when and why."""

    def when(value: datetime | None) -> str | None:
        return mixpanel_datetime(value) if value else None

    return {
        "state": request.approval_state,
        "requested_by": request.requested_by.partition(":")[2] or request.requested_by,
        "needed_from": APPROVAL_NEEDED_FROM,
        "expires_at": when(request.approval_expires_at),
        "decided_by": request.approval_decided_by.partition(":")[2]
        or request.approval_decided_by
        or None,
        "decided_at": when(request.approval_decided_at),
        "reason": request.approval_reason or None,
    }
