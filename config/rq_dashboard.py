"""django-rq's dashboard, mounted in the back office, trusts its path: a queue index past the
configured queues, a job id RQ refuses, a worker that is gone, a non-ASCII stats token, or the
pages of its table-less `Dashboard` model (the admin's "view on site" shortcut included) answer
500. Staff only, but no URL of the site crashes on hostile input: this middleware checks the
arguments before the views see them and answers 404 for what names nothing.
"""

import re
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.http import Http404, HttpRequest, HttpResponse
from django_rq.queues import get_queue_by_index
from django_rq.settings import get_queues_list
from rq import Worker

# RQ accepts letters, digits, "_" and "-" in job ids; worker keys are "rq:worker:<name>".
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_WORKER_KEY = re.compile(r"[\x21-\x7e]{1,200}")
_INDEXES = ("queue_index", "scheduler_index")
# The Dashboard model is only an admin entry point: it has no table, so no object to show.
_TABLELESS_VIEWS = frozenset(
    {"django_rq_dashboard_change", "django_rq_dashboard_history", "django_rq_dashboard_delete"}
)


class RqDashboardArgumentsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: tuple, view_kwargs: dict
    ) -> None:
        match = request.resolver_match
        if match is not None and match.url_name in _TABLELESS_VIEWS:
            raise Http404("The queue dashboard has no objects.")
        if match is not None and match.url_name == "view_on_site":
            _require_model_with_pages(view_kwargs.get("content_type_id"))
        if not getattr(view_func, "__module__", "").startswith("django_rq"):
            return
        for name in _INDEXES:
            index = view_kwargs.get(name)
            if index is not None and not 0 <= index < len(get_queues_list()):
                raise Http404("No such queue.")
        job_id = view_kwargs.get("job_id")
        if job_id is not None and not _JOB_ID.fullmatch(job_id):
            raise Http404("No such job.")
        token = view_kwargs.get("token")
        if token is not None and not token.isascii():
            raise Http404
        key = view_kwargs.get("key")
        if key is not None:
            queue = get_queue_by_index(view_kwargs["queue_index"])
            if not _WORKER_KEY.fullmatch(key) or not Worker.find_by_key(
                key, connection=queue.connection
            ):
                raise Http404("No such worker.")


def _require_model_with_pages(content_type_id: Any) -> None:
    """The admin's "view on site" shortcut reads the object before it asks whether its model has
    pages at all; a table-less model then fails in the database."""
    text = str(content_type_id)
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise Http404("No such content type.")
    content_type = ContentType.objects.filter(pk=int(text)).first()
    model = content_type.model_class() if content_type is not None else None
    if model is None or not model._meta.managed or not hasattr(model, "get_absolute_url"):
        raise Http404("This object has no page on the site.")
