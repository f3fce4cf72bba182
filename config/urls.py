from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config import api_docs, health, views
from privacy_requests.web import project_urls as privacy_project_urls
from projects import urls as project_urls

# One `projects` namespace: projects' own pages, and a project's settings pages, which
# privacy_requests serves because they change suppression (projects cannot import it).
projects_patterns = (
    project_urls.urlpatterns + privacy_project_urls.urlpatterns,
    project_urls.app_name,
)

# An outage of PostgreSQL or Redis answers 503 with Retry-After; anything else the usual 500.
handler500 = "config.outages.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("", include("projects.ingestion.urls")),
    path("", include("projects.engage_query.urls")),
    path("", include("privacy_requests.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs.swagger_ui, name="api-docs"),
    path("api/redoc/", api_docs.redoc, name="api-redoc"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("projects.service_account_urls")),
    path("projects/", include(projects_patterns)),
    path("", include("privacy_requests.urls")),
    path("", include("privacy_requests.web.urls")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
