from django.core.management.base import CommandError, CommandParser
from django.db import IntegrityError, transaction

from accounts.actors import OPERATOR
from accounts.command_args import (
    email_address_arg,
    organization_get_by_name,
    organization_name_arg,
    refuse_inactive,
)
from accounts.errors import AccountsError
from accounts.models import Role
from accounts.services import (
    gdpr_token_reset,
    membership_set,
    organization_create,
    user_get_or_create,
)
from config.commands import (
    OperatorCommand,
    add_json_argument,
    name_arg,
    operator_lock,
    password_arg,
)
from projects.errors import ProjectsError
from projects.models import Project
from projects.services import project_create, project_rotate_api_secret

project_name_arg = name_arg(max_length=Project._meta.get_field("name").max_length)


class Command(OperatorCommand):
    help = (
        "Creates an organization, its owner and a project, or reuses those that exist "
        "(organization by exact name, owner by email, project by name within the organization). "
        "Every run issues a new project API secret and a new GDPR token for the owner; "
        "the old ones stop working."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--org",
            required=True,
            type=organization_name_arg,
            metavar="NAME",
            help="Organization name, matched exactly.",
        )
        parser.add_argument(
            "--owner",
            required=True,
            type=email_address_arg,
            metavar="EMAIL",
            help="Owner's email address, matched case-insensitively; promoted to owner if needed.",
        )
        parser.add_argument(
            "--project",
            required=True,
            type=project_name_arg,
            metavar="NAME",
            help="Project name within the organization.",
        )
        parser.add_argument(
            "--password",
            type=password_arg,
            metavar="P",
            help="Sets the owner's password and marks their email address verified.",
        )
        add_json_argument(parser)

    def handle(self, *args, **options) -> None:
        try:
            with transaction.atomic():
                operator_lock()
                payload, lines = self._provision(
                    organization_name=options["org"],
                    owner_email=options["owner"],
                    project_name=options["project"],
                    password=options["password"],
                )
        except (AccountsError, ProjectsError) as exc:
            raise CommandError(str(exc)) from exc
        except IntegrityError as exc:
            raise CommandError(
                "The same records were changed at the same time; run the command again."
            ) from exc
        self.emit(as_json=options["json"], payload=payload, lines=lines)

    def _provision(
        self,
        *,
        organization_name: str,
        owner_email: str,
        project_name: str,
        password: str | None,
    ) -> tuple[dict[str, object], list[str]]:
        organization = organization_get_by_name(organization_name)
        owner, owner_created = user_get_or_create(email=owner_email, password=password)
        refuse_inactive(owner)
        organization_created = organization is None
        if organization is None:
            organization = organization_create(name=organization_name, owner=owner)
        else:
            membership_set(actor=OPERATOR, organization=organization, user=owner, role=Role.OWNER)
        project = Project.objects.filter(organization=organization, name=project_name).first()
        project_created = project is None
        if project is None:
            project, api_secret = project_create(
                actor=OPERATOR, organization=organization, name=project_name
            )
        else:
            api_secret = project_rotate_api_secret(actor=OPERATOR, project=project)
        gdpr_token = gdpr_token_reset(user=owner)

        payload: dict[str, object] = {
            "organization_id": organization.id,
            "project_id": project.id,
            "project_token": project.token,
            "api_secret": api_secret,
            "owner_email": owner.email,
            "gdpr_token": gdpr_token,
        }
        if password:
            sign_in = "password set"
        elif owner.has_usable_password():
            sign_in = "password unchanged"
        else:
            sign_in = "no password yet: pass --password or use 'Forgot password'"
        lines = [
            f"Organization: {organization.name!r} (id {organization.id}, "
            f"{'created' if organization_created else 'existing'})",
            f"Owner: {owner.email} ({'created' if owner_created else 'existing'}, {sign_in})",
            f"Project: {project.name!r} (id {project.id}, "
            f"{'created' if project_created else 'existing'})",
            f"Project token: {project.token}",
            f"API secret: {api_secret}",
            f"GDPR token of {owner.email}: {gdpr_token}",
            "Both secrets are shown only now: only their hashes are kept.",
        ]
        return payload, lines
