from django.urls import path

from privacy_requests.web.views import approval, requests, submission

app_name = "privacy_web"

urlpatterns = [
    path("privacy/", requests.privacy_home, name="home"),
    path("orgs/<int:organization_id>/privacy/", requests.request_list, name="list"),
    path(
        "orgs/<int:organization_id>/privacy/status/", requests.requests_status, name="list_status"
    ),
    path("orgs/<int:organization_id>/privacy/export/", submission.export_new, name="export_new"),
    path(
        "orgs/<int:organization_id>/privacy/export/<uuid:draft_id>/",
        submission.export_preview_page,
        name="export_preview",
    ),
    path(
        "orgs/<int:organization_id>/privacy/deletion/",
        submission.deletion_new,
        name="deletion_new",
    ),
    path(
        "orgs/<int:organization_id>/privacy/deletion/<uuid:draft_id>/",
        submission.deletion_preview_page,
        name="deletion_preview",
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/",
        requests.request_detail,
        name="detail",
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/status/",
        requests.request_status,
        name="status",
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/cancel/",
        requests.request_cancel,
        name="cancel",
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/approval/",
        approval.request_approval,
        name="approval",
    ),
    path(
        "orgs/<int:organization_id>/privacy/<str:tracking_id>/retry/",
        requests.request_retry,
        name="retry",
    ),
]
