"""Callback endpoints and their delivery log in the back office (issue 19): read-only, with
"send again" through the same service as the settings page. The signing secret is never shown."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from accounts.actors import staff_actor
from privacy_requests.admin.display import BackOfficeMedia, ReadOnlyAdminMixin, when
from privacy_requests.callbacks.deliveries import callback_delivery_resend
from privacy_requests.errors import PrivacyRequestError
from privacy_requests.models import CallbackDelivery, CallbackEndpoint


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["url", "organization", "events", "project", "created_by", "registered"]
    fields = [
        "url",
        "organization",
        "events",
        "project",
        "include_distinct_ids",
        "include_download_link",
        "created_by",
        "created_at",
        "secret_rotated_at",
        "delivery_log",
    ]
    readonly_fields = fields
    list_select_related = ["organization", "project"]
    search_fields = ["url", "organization__name"]
    list_per_page = 100
    Media = BackOfficeMedia

    @admin.display(description="registered", ordering="created_at")
    def registered(self, obj):
        return when(obj.created_at)

    @admin.display(description="delivery log")
    def delivery_log(self, obj):
        url = reverse("admin:privacy_requests_callbackdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">Deliveries</a>', url, obj.id)


@admin.action(description="Send the selected callbacks again", permissions=["operate"])
def send_again(modeladmin, request, queryset):
    sent = 0
    for delivery in queryset.select_related("endpoint__organization"):
        try:
            callback_delivery_resend(actor=staff_actor(request), delivery=delivery)
        except PrivacyRequestError as exc:
            messages.error(request, f"{delivery.delivery_id}: not sent again. {exc}")
        else:
            sent += 1
    messages.success(request, f"{sent} callbacks will be sent again now.")


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "delivery_id",
        "event",
        "request",
        "url",
        "status",
        "response_code",
        "attempts",
        "last_attempt",
        "next_attempt",
    ]
    list_filter = ["status", "event"]
    search_fields = ["delivery_id", "request__tracking_id", "url"]
    list_select_related = ["request", "endpoint"]
    fields = [
        "delivery_id",
        "endpoint",
        "request",
        "event",
        "url",
        "occurred_at",
        "status",
        "attempts",
        "response_code",
        "error",
        "last_attempt_at",
        "next_attempt_at",
        "retry_until",
    ]
    readonly_fields = fields
    actions = [send_again]
    list_per_page = 100
    Media = BackOfficeMedia

    def has_operate_permission(self, request) -> bool:
        """Staff who may operate privacy requests may send their callbacks again."""
        return request.user.is_staff and request.user.has_perm(
            "privacy_requests.change_privacyrequest"
        )

    @admin.display(description="last attempt", ordering="last_attempt_at")
    def last_attempt(self, obj):
        return when(obj.last_attempt_at)

    @admin.display(description="next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj):
        return when(obj.next_attempt_at) if obj.status == "pending" else "—"
