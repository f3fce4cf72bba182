"""Argument types and lookups of the operator commands that know accounts' models (the generic
contract is config.commands)."""

import argparse

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.core.validators import validate_email

from accounts.models import Organization, Role, User
from config.commands import name_arg

organization_name_arg = name_arg(max_length=Organization._meta.get_field("name").max_length)
EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length


def email_address_arg(value: str) -> str:
    email = value.strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"invalid email address: {value!r}") from exc
    if len(email) > EMAIL_MAX_LENGTH:
        raise argparse.ArgumentTypeError(f"must be at most {EMAIL_MAX_LENGTH} characters")
    return User.objects.normalize_email(email).lower()


def role_arg(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError as exc:
        choices = ", ".join(Role.values)
        raise argparse.ArgumentTypeError(f"must be one of {choices}, not {value!r}") from exc


def organization_get_by_name(name: str) -> Organization | None:
    """The organization with exactly this name; refuses to guess between namesakes."""
    matches = list(Organization.objects.filter(name=name).order_by("id")[:2])
    if len(matches) > 1:
        count = Organization.objects.filter(name=name).count()
        raise CommandError(
            f"{count} organizations are named {name!r}; rename all but one in the admin first."
        )
    return matches[0] if matches else None


def refuse_inactive(user: User) -> None:
    if not user.is_active:
        # A staff decision to deactivate is not undone from the command line; the tokens
        # printed for an inactive user would not work anyway.
        raise CommandError(f"The account {user.email!r} is deactivated; reactivate it first.")
