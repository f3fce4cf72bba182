from django.core.management.base import CommandError, CommandParser
from django.db import IntegrityError, transaction

from accounts.actors import OPERATOR
from accounts.command_args import (
    email_address_arg,
    organization_get_by_name,
    organization_name_arg,
    refuse_inactive,
    role_arg,
)
from accounts.errors import AccountsError
from accounts.models import Membership, Role
from accounts.services import gdpr_token_reset, membership_add_by_email
from config.commands import OperatorCommand, add_json_argument, operator_lock, password_arg


class Command(OperatorCommand):
    help = (
        "Adds a person to an existing organization with a role, or changes their role. "
        "The last owner cannot be demoted. Every run issues a new GDPR token for the person."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--org",
            required=True,
            type=organization_name_arg,
            metavar="NAME",
            help="Name of an existing organization, matched exactly.",
        )
        parser.add_argument(
            "--email",
            required=True,
            type=email_address_arg,
            metavar="EMAIL",
            help="The person's email address; an account is created if there is none.",
        )
        parser.add_argument(
            "--role",
            required=True,
            type=role_arg,
            metavar="{" + ",".join(Role.values) + "}",
            help="Role in the organization (any case).",
        )
        parser.add_argument(
            "--password",
            type=password_arg,
            metavar="P",
            help="Sets the person's password and marks their email address verified.",
        )
        add_json_argument(parser)

    def handle(self, *args, **options) -> None:
        try:
            with transaction.atomic():
                operator_lock()
                payload, lines = self._add(
                    organization_name=options["org"],
                    email=options["email"],
                    role=options["role"],
                    password=options["password"],
                )
        except AccountsError as exc:
            raise CommandError(str(exc)) from exc
        except IntegrityError as exc:
            raise CommandError(
                "The same records were changed at the same time; run the command again."
            ) from exc
        self.emit(as_json=options["json"], payload=payload, lines=lines)

    def _add(
        self, *, organization_name: str, email: str, role: Role, password: str | None
    ) -> tuple[dict[str, object], list[str]]:
        organization = organization_get_by_name(organization_name)
        if organization is None:
            raise CommandError(f"No organization is named {organization_name!r}.")
        previous_role = (
            Membership.objects.filter(organization=organization, user__email__iexact=email)
            .values_list("role", flat=True)
            .first()
        )
        membership, _ = membership_add_by_email(
            actor=OPERATOR, organization=organization, email=email, role=role, password=password
        )
        user = membership.user
        refuse_inactive(user)
        gdpr_token = gdpr_token_reset(user=user)

        if previous_role is None:
            change = f"added as {membership.role}"
        elif previous_role != membership.role:
            change = f"role changed from {previous_role} to {membership.role}"
        else:
            change = f"already {membership.role}"
        payload: dict[str, object] = {
            "email": user.email,
            "role": str(membership.role),
            "gdpr_token": gdpr_token,
        }
        lines = [
            f"{user.email} in {organization.name!r}: {change}"
            + ("; password set" if password else ""),
            f"GDPR token of {user.email}: {gdpr_token}",
            "The GDPR token is shown only now: only its hash is kept.",
        ]
        return payload, lines
