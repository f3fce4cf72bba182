from django.urls import path

from privacy_requests.web import views

app_name = "privacy_web"

urlpatterns = [
    path("privacy/", views.privacy_home, name="home"),
    path("orgs/<int:organization_id>/privacy/", views.request_list, name="list"),
    path("orgs/<int:organization_id>/privacy/status/", views.requests_status, name="list_status"),
    path("orgs/<int:organization_id>/privacy/export/", views.export_new, name="export_new"),
    path("orgs/<int:organization_id>/privacy/deletion/", views.deletion_new, name="deletion_new"),
    path(
        "orgs/<int:organization_id>/privacy/deletion/<uuid:draft_id>/",
        views.deletion_preview_page,
        name="deletion_preview",
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/", views.request_detail, name="detail"
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/status/",
        views.request_status,
        name="status",
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/cancel/",
        views.request_cancel,
        name="cancel",
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/retry/",
        views.request_retry,
        name="retry",
    ),
]
