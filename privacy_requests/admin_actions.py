"""What the back office's bulk actions share: call a service on each selected request as the
staff user, and tell the operator how many went through and why the others were refused."""

from collections.abc import Callable, Iterable

from django import forms
from django.contrib import messages
from django.http import HttpRequest

from accounts.actors import Actor, staff_actor
from privacy_requests.errors import PrivacyRequestError
from privacy_requests.models import PrivacyRequest

# Tracking ids named in one refusal message; the rest are counted.
NAMED_IN_MESSAGE = 10


def plural(count: int, singular: str = "request", plural_form: str = "requests") -> str:
    return f"{count} {singular if count == 1 else plural_form}"


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


class ExtendDeadlineForm(forms.Form):
    reason = forms.CharField(
        label="Why is the deadline extended?",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        error_messages={"required": "Say why the deadline is extended."},
        help_text=(
            "A deadline can be extended once: GDPR by two further months (three from receipt), "
            "CCPA by 45 more days. The reason goes into the audit trail."
        ),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the deadline is extended.")
        return reason
