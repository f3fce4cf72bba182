"""Mounted at the root. `mixpanel-utils` and Mixpanel's older documentation call
`/api/2.0/engage`; the current documentation names the same API `/api/query/engage`."""

from django.urls import re_path

from projects.engage_query import views

app_name = "engage_query"

urlpatterns = [
    re_path(r"^api/2\.0/engage/?$", views.engage_query, name="engage-query"),
    re_path(r"^api/query/engage/?$", views.engage_query, name="engage-query-current"),
]
