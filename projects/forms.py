from django import forms

from accounts.models import Organization


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
