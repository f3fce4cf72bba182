from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.actors import staff_actor
from config.admin_lookups import DeclaredLookupsOnly
from config.jobs import enqueue
from projects.errors import ProjectsError
from projects.models import Project
from projects.services import project_delete_check
from projects.tasks import PROJECT_DELETE_TIMEOUT, delete_project


class ProjectDeleteForm(forms.Form):
    name = forms.CharField(
        label="The project's name, to confirm",
        max_length=200,
        error_messages={"required": "Type the project's name to confirm."},
    )

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name != self.project.name:
            raise forms.ValidationError("This is not the project's name: nothing was deleted.")
        return name


@admin.action(
    description="Delete the project and all its end users' data…", permissions=["delete_project"]
)
def delete_with_end_user_data(modeladmin, request, queryset):
    """Asks for the project's name on a page of its own, then queues project_delete: its store
    rows go in short statements by distinct_id, which takes minutes for a big project."""
    selected = list(queryset.select_related("organization")[:2])
    if len(selected) != 1:
        messages.error(request, "Select one project to delete, and only one.")
        return None
    (project,) = selected
    actor = staff_actor(request)
    try:
        project_delete_check(actor=actor, project=project)
    except ProjectsError as exc:
        messages.error(request, f"{project.name} was not deleted: {exc}")
        return None
    form = ProjectDeleteForm(request.POST if "apply" in request.POST else None, project=project)
    if form.is_bound and form.is_valid():
        transaction.on_commit(
            lambda: enqueue(
                delete_project, project.pk, request.user.pk, job_timeout=PROJECT_DELETE_TIMEOUT
            )
        )
        messages.success(
            request,
            f"{project.name} is being deleted with all its end users' data; it leaves this "
            "list when the deletion is done.",
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Delete a project and its end users' data",
        "subtitle": None,
        "opts": modeladmin.model._meta,
        "form": form,
        "project": project,
        "action": "delete_with_end_user_data",
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    template = "admin/projects/project/delete_with_end_user_data.html"
    return TemplateResponse(request, template, context)


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

    actions = [delete_with_end_user_data]

    def has_delete_permission(self, request, obj=None):
        # Django's delete would leave the end users' data behind (the store keeps no foreign
        # key to the project) or, for a big project, time out: the action above queues
        # project_delete instead.
        return False

    def has_delete_project_permission(self, request) -> bool:
        # Irreversible, and it removes every end user's data at once: superusers only.
        return request.user.is_superuser

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
