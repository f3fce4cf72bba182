"""What a request does once a worker holds it, by kind: `processor(run) -> counts`.

A processor works in steps, calls `run.checkpoint(progress)` after each (which commits its
progress and renews the lease), and resumes from `run.progress`. It returns the rows it
exported or removed, per table, recorded on the request when it succeeds.
"""

from collections.abc import Callable

from privacy_requests.deletions.processor import deletion_process
from privacy_requests.engine.run import Run
from privacy_requests.exports.processor import export_process
from privacy_requests.models import PrivacyRequest, RequestKind

Processor = Callable[[Run], dict]

PROCESSORS: dict[str, Processor] = {
    RequestKind.EXPORT: export_process,
    RequestKind.DELETION: deletion_process,
}


def processor_for(request: PrivacyRequest) -> Processor:
    return PROCESSORS[request.kind]
