from datetime import datetime, timedelta

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Organization, ServiceAccountRole
from accounts.service_accounts import SERVICE_ACCOUNT_NAME_MAX
from projects.models import Project


class ProjectCreateForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    name = forms.CharField(max_length=200, strip=True)

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        if organizations.count() == 1:
            self.fields["organization"].initial = organizations.first()


class ApiSecretRotateForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand the current API secret stops working at once: every /import "
        "client using it fails until it gets the new one",
        error_messages={
            "required": "Tick the box to confirm: the current secret stops working at once."
        },
    )


class ServiceAccountCreateForm(forms.Form):
    """A new service account: who it is, what it may do, where and for how long."""

    EXPIRY_CHOICES = [
        ("", "Never"),
        ("30", "In 30 days"),
        ("90", "In 90 days"),
        ("365", "In 1 year"),
    ]

    name = forms.CharField(
        label="Name",
        max_length=SERVICE_ACCOUNT_NAME_MAX,
        help_text="What uses it, e.g. “warehouse import” or “privacy platform”.",
    )
    role = forms.ChoiceField(
        label="Role",
        choices=ServiceAccountRole.choices,
        initial=ServiceAccountRole.MEMBER,
        widget=forms.RadioSelect,
    )
    projects = forms.ModelMultipleChoiceField(
        label="Projects",
        queryset=Project.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one project."},
    )
    expires_in = forms.ChoiceField(label="Expires", choices=EXPIRY_CHOICES, required=False)

    def __init__(self, *args, projects: QuerySet[Project], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["projects"].queryset = projects

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name.isprintable():
            raise forms.ValidationError("Use printable characters only.")
        return name

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=int(days)) if days else None
