from django.urls import path

from projects import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_create, name="create"),
    path("<int:project_id>/settings/", views.project_settings, name="settings"),
    path(
        "<int:project_id>/settings/api-secret/",
        views.project_api_secret_rotate,
        name="api_secret_rotate",
    ),
    path("<int:project_id>/settings/suppression/", views.project_suppression, name="suppression"),
    path(
        "<int:project_id>/settings/suppression/lift/",
        views.project_suppression_lift,
        name="suppression_lift",
    ),
]
