"""The operator's command-line contract (DESIGN section 11), shared by the apps' commands.

Outside test suites script these commands, so their failures are predictable: a bad argument
exits 2 and a refusal (unknown or ambiguous organization, last owner, ...) exits 1, each with
exactly one line on stderr; with --json, stdout holds exactly one JSON object and nothing else.

Generic parts only: argument types that know a model live with their app.
"""

import argparse
import json
import unicodedata
from collections.abc import Callable, Iterable

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

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


def add_json_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="Print one JSON object on stdout and nothing else."
    )


def name_arg(*, max_length: int) -> Callable[[str], str]:
    """An argparse type: a name of at most `max_length` characters (a model field's), trimmed,
    not empty and without control characters."""

    def parse(value: str) -> str:
        name = value.strip()
        if not name:
            raise argparse.ArgumentTypeError("must not be empty")
        if len(name) > max_length:
            raise argparse.ArgumentTypeError(f"must be at most {max_length} characters")
        if any(unicodedata.category(char) == "Cc" for char in name):
            raise argparse.ArgumentTypeError("must not contain control characters")
        return name

    return parse


def password_arg(value: str) -> str:
    # The operator vouches for the password, so Django's strength validators do not apply;
    # an empty one would silently leave the account without a usable password.
    if value == "":
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def bounded_int_arg(*, low: int, high: int | None = None) -> Callable[[str], int]:
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
