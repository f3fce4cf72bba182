from django.urls import path

from privacy_requests.exports.downloads import result_download

urlpatterns = [
    # The signed link of an export package or a deletion receipt (no login: a bearer link).
    path("downloads/<str:tracking_id>/<str:signature>/", result_download, name="privacy_download"),
]
