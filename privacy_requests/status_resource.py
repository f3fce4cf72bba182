"""A request's status resource, as the GDPR API's status endpoint answers it (DESIGN section
6); the signed callbacks (issue 19) send the same shape."""

from privacy_requests.api.serializers import approval_resource, mixpanel_datetime
from privacy_requests.models import PrivacyRequest, RequestKind
from privacy_requests.selectors import (
    privacy_request_given_ids,
    privacy_request_reached_ids,
    privacy_request_result_url,
    privacy_request_subject_results,
)


def privacy_request_status_results(*, request: PrivacyRequest, absolute_base: str) -> dict:
    """The `results` object of the status answer; links are absolute under absolute_base."""
    results = {
        "status": request.status,
        "result": privacy_request_result_url(request=request, absolute_base=absolute_base),
        "distinct_ids": privacy_request_given_ids(request=request),
        "reached_distinct_ids": privacy_request_reached_ids(request=request),
    }
    if request.kind == RequestKind.EXPORT:
        # Issue 17, an addition: one package and link per subject beside `result`.
        results["subject_results"] = privacy_request_subject_results(
            request=request, absolute_base=absolute_base
        )
        # The packages are written just after SUCCESS: their links are "" until then.
        results["subject_results_pending"] = request.subject_packages_pending
    if request.kind == RequestKind.DELETION:
        results.update(
            {
                "tracking_id": request.tracking_id,
                "requesting_user": request.requested_by.partition(":")[2] or request.requested_by,
                "compliance_type": request.compliance,
                "project_id": request.project_id,
                "date_requested": mixpanel_datetime(request.received_at),
            }
        )
        if request.approval_state:
            # An extension beside Mixpanel's fields: the status stays STAGING meanwhile.
            results["approval"] = approval_resource(request)
    return results
