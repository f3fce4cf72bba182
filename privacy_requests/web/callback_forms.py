"""The form that registers a callback endpoint (issue 19); the service checks the URL."""

from django import forms
from django.db.models import QuerySet

from privacy_requests.callbacks.models import CallbackEvent
from projects.models import Project


class CallbackEndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=500,
        help_text=(
            "Where we POST the signed callbacks, e.g. https://privacy.example.com/hooks/. "
            "Requests created through the API may name their own callback_url under it."
        ),
        widget=forms.URLInput(attrs={"autocomplete": "url", "inputmode": "url"}),
    )
    events = forms.MultipleChoiceField(
        label="Events",
        choices=CallbackEvent.choices,
        initial=[event.value for event in CallbackEvent if event != CallbackEvent.STARTED],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
    project = forms.ModelChoiceField(
        label="Project",
        queryset=Project.objects.none(),
        required=False,
        empty_label="All projects of the organization",
    )
    include_distinct_ids = forms.BooleanField(
        label="Include the distinct_ids in the callbacks",
        required=False,
        help_text="Off: the callbacks name the request, never the people it is about.",
    )
    include_download_link = forms.BooleanField(
        label="Include the signed download link once a request succeeded",
        required=False,
        help_text="Off: the receiver fetches the link through the status API.",
    )

    def __init__(self, *args, projects: QuerySet[Project], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects  # type: ignore[attr-defined]
