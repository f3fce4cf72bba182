"""The workers in the back office, as their heartbeats last reported them: read-only."""

from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from privacy_requests.admin.display import BackOfficeMedia, ReadOnlyAdminMixin, when
from privacy_requests.liveness import BANNER_AFTER
from privacy_requests.models import PrivacyRequest, WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "host", "pid", "last_seen", "state", "current_request", "started"]
    fields = list_display
    readonly_fields = fields
    ordering = ["-last_seen_at", "name"]
    list_per_page = 100
    Media = BackOfficeMedia

    def get_queryset(self, request):
        current = PrivacyRequest.objects.filter(tracking_id=OuterRef("current_tracking_id"))
        return (
            super()
            .get_queryset(request)
            .annotate(current_request_id=Subquery(current.values("id")))
        )

    @admin.display(description="last seen", ordering="last_seen_at")
    def last_seen(self, obj):
        elapsed = timezone.now() - obj.last_seen_at
        if elapsed.total_seconds() < 60:  # timesince says "0 minutes": beats come every 15 s
            ago = f"{max(0, int(elapsed.total_seconds()))} seconds"
        else:
            ago = timesince(obj.last_seen_at, timezone.now())
        return f"{when(obj.last_seen_at)} ({ago} ago)"

    @admin.display(description="state")
    def state(self, obj):
        if obj.last_seen_at >= timezone.now() - BANNER_AFTER:
            return "running"
        return format_html('<strong class="deadline-overdue">{}</strong>', "not seen lately")

    @admin.display(description="current request")
    def current_request(self, obj):
        if not obj.current_tracking_id:
            return "—"
        if obj.current_request_id is None:
            return obj.current_tracking_id
        url = reverse("admin:privacy_requests_privacyrequest_change", args=[obj.current_request_id])
        return format_html('<a href="{}">{}</a>', url, obj.current_tracking_id)

    @admin.display(description="started", ordering="started_at")
    def started(self, obj):
        return when(obj.started_at)
