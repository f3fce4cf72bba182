"""The pages under a project's path that privacy_requests serves. config/urls.py joins them to
projects' own URLs in the `projects` namespace, so they reverse as `projects:<name>`."""

from django.urls import path

from privacy_requests.web.views import project_settings

urlpatterns = [
    path("<int:project_id>/settings/", project_settings.project_settings, name="settings"),
    path(
        "<int:project_id>/settings/api-secret/",
        project_settings.project_api_secret_rotate,
        name="api_secret_rotate",
    ),
    path(
        "<int:project_id>/settings/api-secret/new/",
        project_settings.project_api_secret_rotated,
        name="api_secret_rotated",
    ),
    path(
        "<int:project_id>/settings/suppression/",
        project_settings.project_suppression,
        name="suppression",
    ),
    path(
        "<int:project_id>/settings/identity-links/",
        project_settings.project_identity_links,
        name="identity_links",
    ),
    path(
        "<int:project_id>/settings/event-retention/",
        project_settings.project_event_retention,
        name="event_retention",
    ),
    path(
        "<int:project_id>/settings/suppression/lift/",
        project_settings.project_suppression_lift,
        name="suppression_lift",
    ),
]
