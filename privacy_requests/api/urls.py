from django.urls import path, re_path

from privacy_requests.api import lookup_views, views

# Mixpanel's clients mix trailing slashes: every path works with and without one.
urlpatterns = [
    re_path(
        r"^api/app/data-retrievals/v3\.0/?$",
        views.RetrievalCreateView.as_view(),
        name="gdpr-retrieval-create",
    ),
    re_path(
        r"^api/app/data-retrievals/v3\.0/(?P<task_id>[^/]+)/?$",
        views.RetrievalDetailView.as_view(),
        name="gdpr-retrieval-detail",
    ),
    re_path(
        r"^api/app/data-deletions/v3\.0/?$",
        views.DeletionCreateView.as_view(),
        name="gdpr-deletion-create",
    ),
    re_path(
        r"^api/app/data-deletions/v3\.0/(?P<task_id>[^/]+)/?$",
        views.DeletionDetailView.as_view(),
        name="gdpr-deletion-detail",
    ),
    path("api/requests/", views.PrivacyRequestListView.as_view(), name="api-request-list"),
    # Issue 18, an addition to Mixpanel's API: find an end user's distinct_ids.
    re_path(
        r"^api/app/end-user-lookup/?$",
        lookup_views.EndUserLookupView.as_view(),
        name="gdpr-end-user-lookup",
    ),
]
