from django import forms

from projects.retention import KEEP_EVENTS_MONTHS_MAX

RANGE_HINT = (
    f"Enter a whole number of months from 1 to {KEEP_EVENTS_MONTHS_MAX}, or leave the box "
    "empty to keep events until a deletion request removes them."
)


class EventRetentionForm(forms.Form):
    """A project's "keep events for N months"; shortening it (or turning it on) removes data
    for good, so that needs a tick."""

    keep_events_months = forms.IntegerField(
        label="Keep events for (months)",
        required=False,
        min_value=1,
        max_value=KEEP_EVENTS_MONTHS_MAX,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=(
            "Events that happened longer ago than this are removed once a day. Leave it empty "
            "to keep events until a deletion request removes them."
        ),
        error_messages={
            "invalid": RANGE_HINT,
            "min_value": RANGE_HINT,
            "max_value": RANGE_HINT,
        },
    )
    confirm = forms.BooleanField(
        required=False,
        label="I understand that older events are removed for good: they cannot be recovered, "
        "exported or analyzed afterwards",
    )

    def __init__(self, *args, current: int | None, **kwargs):
        # Its own ids: the API secret's form on the same page has a `confirm` too.
        kwargs.setdefault("auto_id", "retention_%s")
        super().__init__(*args, **kwargs)
        self.current = current

    def clean(self):
        cleaned = super().clean()
        months = cleaned.get("keep_events_months")
        shortened = months is not None and (self.current is None or months < self.current)
        if shortened and not cleaned.get("confirm"):
            self.add_error(
                "confirm",
                f"Tick the box to confirm: events that happened more than {months} "
                f"month{'s' if months != 1 else ''} ago will be removed for good.",
            )
        return cleaned
