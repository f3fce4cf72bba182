"""The queue summary as links into the back office's request list, shown above that list and on
the back office's index.

It lives outside privacy_requests.admin because config.admin_site imports it while Django builds
the default admin site: importing the admin package registers its ModelAdmins on that site, which
is not built yet.
"""

from django.urls import reverse

from privacy_requests.admin_selectors import privacy_request_queue_summary


def queue_summary_links() -> list[tuple[str, int, str]]:
    """(label, count, filtered list URL) for each queue."""
    changelist = reverse("admin:privacy_requests_privacyrequest_changelist")
    summary = privacy_request_queue_summary()
    return [
        ("Queued", summary.queued, f"{changelist}?status__in=PENDING,STAGING"),
        ("Running", summary.running, f"{changelist}?status__exact=STARTED"),
        ("Failed", summary.failed, f"{changelist}?status__exact=FAILURE"),
        ("Overdue", summary.overdue, f"{changelist}?deadline=overdue"),
        ("Due this week", summary.due_this_week, f"{changelist}?deadline=week"),
    ]
