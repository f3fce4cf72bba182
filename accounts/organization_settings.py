"""The organization's own settings (issue 17): its privacy contact, named in every export
package so that an end user knows whom to ask. Owners and admins change it."""

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from accounts.errors import AccountsError
from accounts.models import Organization
from accounts.selectors import can_manage_members


def privacy_contact_validate(value: str) -> str:
    """An email address or a web address; "" for none."""
    value = value.strip()
    if not value:
        return ""
    try:
        if "://" in value:
            URLValidator(schemes=["https", "http"])(value)
        else:
            EmailValidator()(value)
    except ValidationError as exc:
        raise ValidationError(
            "Enter an email address (privacy@example.com) or a web address "
            "(https://example.com/privacy), or leave it empty."
        ) from exc
    return value


class PrivacyContactForm(forms.Form):
    privacy_contact = forms.CharField(
        label="Privacy contact",
        required=False,
        max_length=254,
        help_text=(
            "An email address or web page where people can ask about their data. Every export "
            "package names it, beside the organization's name. Leave empty for none."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "email"}),
    )

    def clean_privacy_contact(self) -> str:
        return privacy_contact_validate(self.cleaned_data["privacy_contact"])


def organization_privacy_contact_set(*, user, organization: Organization, contact: str) -> None:
    if not can_manage_members(user=user, organization=organization):
        raise AccountsError("Only owners and admins can change the organization's settings.")
    organization.privacy_contact = privacy_contact_validate(contact)
    organization.save(update_fields=["privacy_contact"])
