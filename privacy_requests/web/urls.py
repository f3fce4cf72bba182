from django.urls import path

from privacy_requests.web.views import approval, callbacks, lookup, requests, submission

app_name = "privacy_web"

urlpatterns = [
    # The organization's callback endpoints (issue 19), beside its other settings.
    path("orgs/<int:organization_id>/settings/callbacks/", callbacks.callbacks, name="callbacks"),
    path(
        "orgs/<int:organization_id>/settings/callbacks/<int:endpoint_id>/",
        callbacks.callback_endpoint,
        name="callback_endpoint",
    ),
    path(
        "orgs/<int:organization_id>/settings/callbacks/<int:endpoint_id>/secret/",
        callbacks.callback_secret,
        name="callback_secret",
    ),
    path(
        "orgs/<int:organization_id>/settings/callbacks/<int:endpoint_id>/rotate/",
        callbacks.callback_rotate,
        name="callback_rotate",
    ),
    path(
        "orgs/<int:organization_id>/settings/callbacks/<int:endpoint_id>/delete/",
        callbacks.callback_delete,
        name="callback_delete",
    ),
    path(
        "orgs/<int:organization_id>/settings/callbacks/<int:endpoint_id>/deliveries/"
        "<int:delivery_id>/send-again/",
        callbacks.callback_resend,
        name="callback_resend",
    ),
    path("privacy/", requests.privacy_home, name="home"),
    path("orgs/<int:organization_id>/privacy/", requests.request_list, name="list"),
    path(
        "orgs/<int:organization_id>/privacy/status/", requests.requests_status, name="list_status"
    ),
    path(
        "orgs/<int:organization_id>/privacy/find/",
        lookup.end_user_lookup_page,
        name="end_user_lookup",
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
