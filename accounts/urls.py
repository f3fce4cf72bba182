from django.urls import path

from accounts import invitation_views, organization_views, views

app_name = "accounts"

urlpatterns = [
    path("settings/", views.personal_settings, name="personal_settings"),
    path("settings/gdpr-token/", views.gdpr_token_reset, name="gdpr_token_reset"),
    path("settings/gdpr-token/new/", views.gdpr_token_created, name="gdpr_token_created"),
    path("orgs/<int:organization_id>/members/", views.members, name="members"),
    path(
        "orgs/<int:organization_id>/settings/",
        organization_views.organization_settings,
        name="organization_settings",
    ),
    path(
        "orgs/<int:organization_id>/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "orgs/<int:organization_id>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "orgs/<int:organization_id>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invitations/<str:token>/", invitation_views.invitation, name="invitation"),
]
