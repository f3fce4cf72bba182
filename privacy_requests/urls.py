from django.urls import path

from privacy_requests.exports.downloads import result_download, subject_download

urlpatterns = [
    # The signed link of an export package or a deletion receipt (no login: a bearer link).
    path("downloads/<str:tracking_id>/<str:signature>/", result_download, name="privacy_download"),
    # One subject's package of an export (issue 17), numbered from 1.
    path(
        "downloads/<str:tracking_id>/<int:number>/<str:signature>/",
        subject_download,
        name="privacy_subject_download",
    ),
]
