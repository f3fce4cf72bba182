"""Mounted at the root: Mixpanel's clients append the endpoint to an API host, with or without
a trailing slash."""

from django.urls import re_path

from projects.ingestion import views

app_name = "ingestion"

urlpatterns = [
    re_path(r"^track/?$", views.track, name="track"),
    re_path(r"^engage/?$", views.engage, name="engage"),
    re_path(r"^groups/?$", views.groups, name="groups"),
    re_path(r"^import/?$", views.import_, name="import"),
]
