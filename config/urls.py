from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import views
from privacy_requests.web import project_urls as privacy_project_urls
from projects import urls as project_urls

# One `projects` namespace: projects' own pages, and a project's settings pages, which
# privacy_requests serves because they change suppression (projects cannot import it).
projects_patterns = (
    project_urls.urlpatterns + privacy_project_urls.urlpatterns,
    project_urls.app_name,
)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("projects.ingestion.urls")),
    path("", include("projects.engage_query.urls")),
    path("", include("privacy_requests.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("projects.service_account_urls")),
    path("projects/", include(projects_patterns)),
    path("", include("privacy_requests.urls")),
    path("", include("privacy_requests.web.urls")),
    # django-rq 4.2's stats.json/<token> compares the token with secrets.compare_digest, which
    # raises on non-ASCII text: a 500 for anyone, signed out. No token is non-ASCII, so such a
    # path names nothing; these patterns, before both mounts of django-rq, answer 404.
    *(
        re_path(rf"^{mount}stats\.json/(?P<token>[^/]*[^\x00-\x7f][^/]*)/?$", views.not_found)
        for mount in ("admin/rq/", "admin/django_rq/dashboard/")
    ),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
