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


class DeletionApprovalForm(forms.Form):
    """Four-eyes approval (issue 19): deletions reaching more than either need a second owner's
    or admin's approval. Empty fields leave it off."""

    approval_subjects_over = forms.IntegerField(
        label="Subjects",
        required=False,
        min_value=0,
        help_text="Deletions reaching more people than this wait for a second approval. "
        "Suggested: 100. Empty: no limit.",
    )
    approval_events_over = forms.IntegerField(
        label="Events",
        required=False,
        min_value=0,
        max_value=2**63 - 1,
        help_text="Deletions reaching more events than this wait for a second approval. "
        "Suggested: 1000000. Empty: no limit.",
    )


def organization_deletion_approval_set(
    *, user, organization: Organization, subjects_over: int | None, events_over: int | None
) -> None:
    if not can_manage_members(user=user, organization=organization):
        raise AccountsError("Only owners and admins can change the organization's settings.")
    for value in (subjects_over, events_over):
        if value is not None and value < 0:
            raise AccountsError("A limit is a number of 0 or more, or empty for none.")
    organization.approval_subjects_over = subjects_over
    organization.approval_events_over = events_over
    organization.save(update_fields=["approval_subjects_over", "approval_events_over"])
