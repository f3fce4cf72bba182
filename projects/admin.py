from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from config.admin_lookups import DeclaredLookupsOnly
from projects.models import Project


@admin.register(Project)
class ProjectAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    """Staff may rename a project; nothing else changes here (issue 15, finding 1).

    Its organization is read-only: moving a project to another organization would hand its end
    users' data to that organization's owners (a staff user moved a customer's project into
    their own, exported it there and moved it back). Suppression and event retention are set by
    the organization's owners and admins on the project's settings page, which audits them.
    """

    list_display = [
        "name",
        "organization",
        "token",
        "suppress_deleted_ids",
        "keep_events_months",
        "created_at",
    ]
    list_filter = ["suppress_deleted_ids"]
    search_fields = ["name", "token", "organization__name"]
    fields = [
        "name",
        "organization",
        "token",
        "suppression",
        "event_retention",
        "api_secret_rotated_at",
        "created_at",
    ]
    readonly_fields = [
        "organization",
        "token",
        "suppression",
        "event_retention",
        "api_secret_rotated_at",
        "created_at",
    ]

    def has_add_permission(self, request):
        # A project's API secret must be shown once to its owners: create it from the web page
        # or `manage.py createorg`, never here.
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting a project would cascade to its end users' data without a deletion request,
        # its audit entry or its receipt.
        return False

    @admin.display(description="suppress deleted ids")
    def suppression(self, obj):
        return format_html(
            '{} <a href="{}">(changed by the organization\'s owners and admins on the '
            "project's settings page, where it is audited)</a>",
            "On" if obj.suppress_deleted_ids else "Off",
            reverse("projects:settings", args=[obj.pk]),
        )

    @admin.display(description="event retention")
    def event_retention(self, obj):
        months = obj.keep_events_months
        return format_html(
            "{} <a href=\"{}\">(set by the organization's owners and admins on the project's "
            "settings page, where it is audited)</a>",
            f"Keeps events for {months} month{'s' if months != 1 else ''}"
            if months
            else "Off: events are kept until deleted",
            reverse("projects:settings", args=[obj.pk]),
        )
