"""What a deletion does not do (issue 17, item 11): stop collection. Said in one place, on the
deletion page and in the receipt."""

from django.conf import settings
from django.urls import reverse

FUTURE_COLLECTION = (
    "Deleting data does not stop future collection: events the product sends for these ids "
    "afterwards are stored again, unless the project's suppression of deleted ids is on."
)
SDK_OPT_OUT = (
    "To stop collection at the source, the product calls its SDK's opt-out for that person "
    "(mixpanel.opt_out_tracking() in JavaScript, optOutTracking() on iOS and Android), and "
    "the SDK sends nothing more from that device.",
    "Server libraries (Python, Node.js, Ruby…) have no opt-out: the product's own code must "
    "stop sending that person's events.",
)


def suppression_setting_path(project_id: int) -> str:
    return reverse("projects:settings", args=[project_id]) + "#suppression"


def future_collection_receipt(*, project_id: int) -> dict:
    """The receipt's part: the sentence, the suppression setting's address, the opt-out."""
    return {
        "note": FUTURE_COLLECTION,
        "suppression_setting": settings.SITE_URL.rstrip("/") + suppression_setting_path(project_id),
        "sdk_opt_out": list(SDK_OPT_OUT),
    }
