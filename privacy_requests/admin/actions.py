"""The request list's bulk actions. Each calls a service on every selected request as the staff
user, in the service's own transaction, and tells the operator how many went through and why the
others were refused."""

from collections.abc import Callable, Iterable

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from accounts.actors import Actor, staff_actor
from privacy_requests.admin.display import plural
from privacy_requests.deadlines import deadline_state
from privacy_requests.errors import PrivacyRequestError
from privacy_requests.models import (
    CANCELABLE_STATUSES,
    FINAL_STATUSES,
    PrivacyRequest,
    RequestKind,
    Status,
)
from privacy_requests.services import (
    privacy_request_cancel,
    privacy_request_expedite,
    privacy_request_extend,
    privacy_request_retry,
)

# Tracking ids named in one refusal message; the rest are counted.
NAMED_IN_MESSAGE = 10
# A request page posts its action buttons to the list with this field, to come back after.
RETURN_TO_REQUEST = "_return_to_request"


def privacy_requests_operate(
    request: HttpRequest,
    privacy_requests: Iterable[PrivacyRequest],
    *,
    operation: Callable[[PrivacyRequest, Actor], object],
    done: str,
    not_done: str,
) -> tuple[int, dict[str, list[str]]]:
    """Applies `operation` to each request in its own transaction (the service's), so one
    refusal never undoes the others; reports with messages. `done` and `not_done` complete
    "<N requests> …", e.g. "retried", "not retried"."""
    actor = staff_actor(request)
    succeeded = 0
    refused: dict[str, list[str]] = {}
    for privacy_request in privacy_requests:
        try:
            operation(privacy_request, actor)
        except PrivacyRequestError as exc:
            refused.setdefault(str(exc), []).append(privacy_request.tracking_id)
        else:
            succeeded += 1
    if succeeded:
        messages.success(request, f"{plural(succeeded)} {done}.")
    for reason, tracking_ids in refused.items():
        named = ", ".join(tracking_ids[:NAMED_IN_MESSAGE])
        if len(tracking_ids) > NAMED_IN_MESSAGE:
            named += f" and {len(tracking_ids) - NAMED_IN_MESSAGE} more"
        messages.error(request, f"{plural(len(tracking_ids))} {not_done}: {reason} ({named})")
    return succeeded, refused


def _reason_field(*, label: str, missing: str, help_text: str) -> forms.CharField:
    """A required reason for the audit trail; blank or spaces only is refused (CharField
    strips before the required check)."""
    return forms.CharField(
        label=label,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        error_messages={"required": missing},
        help_text=help_text,
    )


class ExtendDeadlineForm(forms.Form):
    reason = _reason_field(
        label="Why is the deadline extended?",
        missing="Say why the deadline is extended.",
        help_text=(
            "A deadline can be extended once: GDPR by two further months (three from receipt), "
            "CCPA by 45 more days. The reason goes into the audit trail."
        ),
    )


class CancelRequestsForm(forms.Form):
    reason = _reason_field(
        label="Why are they canceled?",
        missing="Say why the requests are canceled.",
        help_text=(
            "Canceling cannot be undone: nothing more is done for these requests, and the "
            "requester is emailed. The reason goes into the audit trail."
        ),
    )


def _with_overdue_confirmation(form_class: type[forms.Form]) -> type[forms.Form]:
    """The extend form of a selection that holds an overdue request: the operator confirms."""

    class ConfirmedForm(form_class):  # type: ignore[valid-type,misc]
        confirm_overdue = forms.BooleanField(
            label=(
                "I understand that a deadline has already passed: extending now does not make "
                "the late answer timely."
            ),
            error_messages={"required": "Confirm that you extend an overdue request."},
        )

    return ConfirmedForm


def actions_available(privacy_request: PrivacyRequest) -> list[tuple[str, str]]:
    """The action buttons a request's page offers; the services still decide."""
    available = []
    if privacy_request.status == Status.FAILURE:
        available.append(("retry_failed", "Retry"))
    if privacy_request.status in CANCELABLE_STATUSES:
        available.append(("cancel_requests", "Cancel…"))
        if (
            privacy_request.kind == RequestKind.DELETION
            and privacy_request.not_before > timezone.now()
        ):
            available.append(("expedite_deletions", "Expedite (end the grace period)"))
    if not privacy_request.extended and privacy_request.status not in FINAL_STATUSES:
        available.append(("extend_deadline", "Extend the deadline…"))
    return available


def _selected(queryset: QuerySet[PrivacyRequest]) -> QuerySet[PrivacyRequest]:
    return (
        PrivacyRequest.objects.filter(pk__in=list(queryset.values_list("pk", flat=True)))
        .select_related("project")
        .order_by("due_at", "id")
    )


def _back_to_request(request: HttpRequest, queryset: QuerySet[PrivacyRequest]):
    """Back to the request's page when the action was posted from it, else to the list."""
    if request.POST.get(RETURN_TO_REQUEST):
        privacy_request = queryset.first()
        if privacy_request is not None:
            return HttpResponseRedirect(
                reverse("admin:privacy_requests_privacyrequest_change", args=[privacy_request.pk])
            )
    return None


@admin.action(description="Retry the selected failed requests", permissions=["operate"])
def retry_failed(modeladmin, request, queryset):
    privacy_requests_operate(
        request,
        _selected(queryset),
        operation=lambda pr, actor: privacy_request_retry(request=pr, actor=actor),
        done="retried: queued again on the same tracking id",
        not_done="not retried",
    )
    return _back_to_request(request, queryset)


@admin.action(
    description="Cancel the selected requests (PENDING or STAGING only), with a reason",
    permissions=["operate"],
)
def cancel_requests(modeladmin, request, queryset):
    """Asks for confirmation and the reason on a page of its own, then cancels each request."""
    form = CancelRequestsForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        reason = form.cleaned_data["reason"]
        privacy_requests_operate(
            request,
            _selected(queryset),
            operation=lambda pr, actor: privacy_request_cancel(
                request=pr, actor=actor, reason=reason
            ),
            done="canceled",
            not_done="not canceled",
        )
        return _back_to_request(request, queryset)
    return _confirmation_page(
        modeladmin,
        request,
        queryset,
        form=form,
        action="cancel_requests",
        title="Cancel requests",
        template="cancel_requests.html",
    )


@admin.action(
    description="Expedite the selected deletions (end their grace period)",
    permissions=["operate"],
)
def expedite_deletions(modeladmin, request, queryset):
    privacy_requests_operate(
        request,
        _selected(queryset),
        operation=lambda pr, actor: privacy_request_expedite(request=pr, actor=actor),
        done="expedited",
        not_done="not expedited",
    )
    return _back_to_request(request, queryset)


@admin.action(
    description="Extend the deadline of the selected requests (once, with a reason)",
    permissions=["operate"],
)
def extend_deadline(modeladmin, request, queryset):
    """Asks for the reason on a page of its own (and, when a selected request is overdue, a
    confirmation), then extends each request."""
    now = timezone.now()
    selected = list(_selected(queryset))
    overdue = [pr for pr in selected if deadline_state(pr, now=now) == "overdue"]
    form_class = _with_overdue_confirmation(ExtendDeadlineForm) if overdue else ExtendDeadlineForm
    form = form_class(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        reason = form.cleaned_data["reason"]
        privacy_requests_operate(
            request,
            _selected(queryset),
            operation=lambda pr, actor: privacy_request_extend(
                request=pr, actor=actor, reason=reason
            ),
            done="extended",
            not_done="not extended",
        )
        return _back_to_request(request, queryset)
    return _confirmation_page(
        modeladmin,
        request,
        queryset,
        form=form,
        action="extend_deadline",
        title="Extend the deadline",
        template="extend_deadline.html",
        overdue=overdue,
    )


def _confirmation_page(
    modeladmin, request, queryset, *, form, action, title, template, overdue=()
) -> TemplateResponse:
    now = timezone.now()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": modeladmin.model._meta,
        "form": form,
        "action": action,
        "privacy_requests": [
            (pr, deadline_state(pr, now=now) == "overdue") for pr in _selected(queryset)
        ],
        "overdue": list(overdue),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "return_to_request": request.POST.get(RETURN_TO_REQUEST, ""),
        "return_to_request_field": RETURN_TO_REQUEST,
        "media": modeladmin.media,
    }
    return TemplateResponse(request, f"admin/privacy_requests/privacyrequest/{template}", context)
