from django.contrib import admin
from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("projects.ingestion.urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("projects/", include("projects.urls")),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
