from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("settings/", views.personal_settings, name="personal_settings"),
    path("orgs/<int:organization_id>/members/", views.members, name="members"),
]
