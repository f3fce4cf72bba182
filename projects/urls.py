from django.urls import path

from projects import views

app_name = "projects"

# A project's settings pages join this namespace from privacy_requests (config/urls.py).
urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_create, name="create"),
    path("<int:project_id>/created/", views.project_created, name="created"),
]
