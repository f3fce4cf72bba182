"""What createorg and addmember share: the operator's command-line contract (DESIGN section 11).

Outside test suites script these commands, so their failures are predictable: a bad argument
exits 2 and a refusal (unknown or ambiguous organization, last owner, ...) exits 1, each with
exactly one line on stderr; with --json, stdout holds exactly one JSON object and nothing else.
"""

import argparse
import json
import unicodedata
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import connection

from accounts.models import Organization, Role, User
from projects.models import Project

# Any fixed number will do: it only has to be the same for every operator command.
OPERATOR_LOCK_KEY = 7_406_315_281


class OneLineErrorParser(CommandParser):
    def error(self, message: str) -> None:
        if self.called_from_command_line:
            # argparse would print the whole usage first; scripts expect one line.
            self.exit(2, f"{self.prog}: error: {' '.join(message.splitlines())}\n")
        super().error(message)  # from call_command: raises CommandError


class OperatorCommand(BaseCommand):
    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        # Abbreviated options would make today's scripts break when an option is added.
        parser = super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)
        # BaseCommand instantiates CommandParser itself; the subclass only overrides error().
        parser.__class__ = OneLineErrorParser
        return parser

    def emit(self, *, as_json: bool, payload: dict[str, object], lines: Iterable[str]) -> None:
        if as_json:
            self.stdout.write(json.dumps(payload))
        else:
            for line in lines:
                self.stdout.write(line)


def operator_lock() -> None:
    """Serializes operator commands within the caller's transaction on PostgreSQL, so two runs
    started at once cannot both create the same organization or user. Call inside atomic()."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OPERATOR_LOCK_KEY])


def _name_type(field_max_length: int):
    def parse(value: str) -> str:
        name = value.strip()
        if not name:
            raise argparse.ArgumentTypeError("must not be empty")
        if len(name) > field_max_length:
            raise argparse.ArgumentTypeError(f"must be at most {field_max_length} characters")
        if any(unicodedata.category(char) == "Cc" for char in name):
            raise argparse.ArgumentTypeError("must not contain control characters")
        return name

    return parse


organization_name_arg = _name_type(Organization._meta.get_field("name").max_length)
project_name_arg = _name_type(Project._meta.get_field("name").max_length)
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


def password_arg(value: str) -> str:
    # The operator vouches for the password, so Django's strength validators do not apply;
    # an empty one would silently leave the account without a usable password.
    if value == "":
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def add_json_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="Print one JSON object on stdout and nothing else."
    )


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


def bounded_int_arg(*, low: int, high: int | None = None):
    """An argparse type: a whole number from `low` up to `high` (no upper bound if None)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"must be an integer, not {value!r}") from exc
        if number < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {number}")
        if high is not None and number > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, not {number}")
        return number

    return parse
