"""The end users' data in the back office: events, profiles, identity links, group profiles and
suppressed ids, which only ingestion and the privacy request services write or delete.

Lists hide property values and filter only through their declared filters and the exact search
(config.admin_lookups: a lookup on a property would read values without an audit entry); opening
an event, profile, identity link or group profile is audited.
"""

import json

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Q
from django.utils.html import format_html

from accounts.actors import staff_actor
from config.admin_lookups import DeclaredLookupsOnly
from privacy_requests.admin.display import ReadOnlyAdminMixin
from privacy_requests.services.staff_access import end_user_data_view_record
from projects.models import Event, GroupProfile, IdentityLink, Profile, Project, SuppressedId
from projects.pii import distinct_id_hmac


class AuditedOpeningMixin:
    """Each record a staff user opens is audited in its organization's chain (the end user
    named only by HMAC)."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            record = self.get_object(request, unquote(object_id))
            if record is not None:
                end_user_data_view_record(actor=staff_actor(request), record=record)
        return response

    @admin.display(description="properties")
    def properties_display(self, obj):
        return format_html(
            "<pre>{}</pre>",
            json.dumps(obj.properties, indent=2, sort_keys=True, ensure_ascii=False),
        )


class EndUserDataAdmin(
    AuditedOpeningMixin, DeclaredLookupsOnly, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """End users' data (DESIGN section 9): read-only, lists hide property values, each record
    opened is audited. Searching takes a distinct_id, exactly as ingested."""

    list_select_related = ["project"]
    list_filter = ["project"]
    list_per_page = 100
    show_full_result_count = False
    search_fields = ["distinct_id"]  # the search itself is get_search_results
    search_help_text = "A distinct_id, exact and case-sensitive."
    # Other columns an exact search also looks in.
    also_searched: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(distinct_id=term)
        for field in self.also_searched:
            match |= Q(**{field: term})
        # Naming every project lets the (project, distinct_id, ...) indexes serve the lookup.
        projects = list(Project.objects.values_list("id", flat=True))
        return queryset.filter(match, project_id__in=projects), False

    @admin.display(description="properties")
    def property_count(self, obj):
        count = len(obj.properties or {})
        return f"{count} propert{'y' if count == 1 else 'ies'} (open to see; audited)"


@admin.register(Event)
class EventAdmin(EndUserDataAdmin):
    list_display = [
        "id",
        "project",
        "distinct_id",
        "name",
        "time",
        "source",
        "property_count",
        "ingested_at",
    ]
    fields = [
        "project",
        "distinct_id",
        "name",
        "time",
        "insert_id",
        "source",
        "ingested_at",
        "properties_display",
    ]
    readonly_fields = fields
    ordering = ["-id"]


@admin.register(Profile)
class ProfileAdmin(EndUserDataAdmin):
    list_display = ["id", "project", "distinct_id", "property_count", "updated_at"]
    fields = ["project", "distinct_id", "updated_at", "properties_display"]
    readonly_fields = fields
    ordering = ["-id"]


@admin.register(IdentityLink)
class IdentityLinkAdmin(EndUserDataAdmin):
    list_display = ["id", "project", "distinct_id", "canonical_id", "kind", "created_at"]
    list_filter = ["project", "kind"]
    fields = ["project", "distinct_id", "canonical_id", "kind", "created_at"]
    readonly_fields = fields
    search_help_text = "A distinct_id, exact and case-sensitive (as a member or as the root)."
    also_searched = ("canonical_id",)
    ordering = ["-id"]


@admin.register(GroupProfile)
class GroupProfileAdmin(
    AuditedOpeningMixin, DeclaredLookupsOnly, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = ["id", "project", "group_key", "group_id", "updated_at"]
    list_filter = ["project"]
    list_select_related = ["project"]
    search_fields = ["=group_key", "=group_id"]
    fields = ["project", "group_key", "group_id", "updated_at", "properties_display"]
    readonly_fields = fields
    ordering = ["-id"]


@admin.register(SuppressedId)
class SuppressedIdAdmin(DeclaredLookupsOnly, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Suppressions are lifted, with an audit entry, from the project's settings page."""

    list_display = ["id", "project", "id_hmac", "request_id", "created_at"]
    list_filter = ["project"]
    list_select_related = ["project"]
    search_fields = ["id_hmac"]  # the search itself is get_search_results
    search_help_text = "A distinct_id (matched through its HMAC in each project) or an HMAC."
    fields = ["project", "id_hmac", "request_id", "created_at"]
    readonly_fields = fields
    ordering = ["-id"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        hmacs = [
            distinct_id_hmac(project_id=project_id, distinct_id=term)
            for project_id in Project.objects.values_list("id", flat=True)
        ]
        return queryset.filter(id_hmac__in=[term, *hmacs]), False
