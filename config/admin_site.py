"""The back office: the Django admin, signed in through allauth (DESIGN section 9).

Who may pass is decided in config.admin_access; this site only swaps the admin's own password
form for allauth's sign-in (so MFA applies) and puts the queues, and a warning when no worker
runs, on the index page.
"""

from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib.admin import AdminSite
from django.urls import reverse
from django_rq.settings import get_queues_map

from config.jobs import QUEUE_NAME
from privacy_requests.admin_links import queue_summary_links
from privacy_requests.liveness import worker_missing_warning


class BackOfficeAdminSite(AdminSite):
    site_header = "Privacy requests back office"
    site_title = "Back office"
    index_title = "Back office"
    index_template = "admin/back_office_index.html"
    # The request list is wide; the index and breadcrumbs lead everywhere the sidebar would.
    enable_nav_sidebar = False

    def login(self, request, extra_context=None):
        # Anonymous visitors go to allauth's sign-in (and its MFA stage); signed-in non-staff
        # get 403 instead of the admin's own password form.
        return secure_admin_login(super().login)(request, extra_context)

    def index(self, request, extra_context=None):
        context = {"back_office": self.back_office_context(request), **(extra_context or {})}
        return super().index(request, extra_context=context)

    def back_office_context(self, request) -> dict:
        queue_index = get_queues_map().get(QUEUE_NAME, 0)
        context = {
            "failed_job_ttl_days": settings.RQ_FAILED_JOB_TTL // 86400,
            "rq_links": [
                ("Queue dashboard", reverse("django_rq:home")),
                (f"Jobs waiting in “{QUEUE_NAME}”", reverse("django_rq:jobs", args=[queue_index])),
                ("Workers", reverse("django_rq:workers", args=[queue_index])),
                ("Failed jobs", reverse("django_rq:failed_jobs", args=[queue_index])),
                (
                    "Scheduled jobs (the sweep)",
                    reverse("django_rq:scheduled_jobs", args=[queue_index]),
                ),
            ],
        }
        if request.user.has_perm("privacy_requests.view_privacyrequest"):
            context["summary"] = queue_summary_links()
            context["worker_warning"] = worker_missing_warning()
            context["workers_url"] = reverse("admin:privacy_requests_workerheartbeat_changelist")
        return context
