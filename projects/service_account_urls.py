"""URLs of an organization's service accounts page, under /orgs/<id>/ beside its members."""

from django.urls import path

from projects import service_account_views

app_name = "service_accounts"

urlpatterns = [
    path(
        "orgs/<int:organization_id>/service-accounts/",
        service_account_views.service_accounts,
        name="list",
    ),
    path(
        "orgs/<int:organization_id>/service-accounts/<int:service_account_id>/created/",
        service_account_views.service_account_created,
        name="created",
    ),
    path(
        "orgs/<int:organization_id>/service-accounts/<int:service_account_id>/revoke/",
        service_account_views.service_account_revoke,
        name="revoke",
    ),
]
