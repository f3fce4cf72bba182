from django.contrib import admin

from projects.models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "token", "suppress_deleted_ids", "created_at"]
    list_filter = ["suppress_deleted_ids"]
    search_fields = ["name", "token", "organization__name"]
    readonly_fields = ["token", "api_secret_rotated_at", "created_at"]
    exclude = ["api_secret_hash"]
    autocomplete_fields = ["organization"]

    def has_add_permission(self, request):
        # A project's API secret must be shown once to its owners: create it from the web page
        # or `manage.py createorg`, never here.
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting a project would cascade to its end users' data without a deletion request,
        # its audit entry or its receipt.
        return False
