"""Creates, or brings back, the demo organization, its owner and project; prints the login.

Safe to run any number of times: each run reuses what exists and gives the demo owner a fresh
password, so the printed login always works.
"""

import argparse
import json
import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.actors import OPERATOR
from accounts.models import Organization, Role, User
from accounts.selectors import organization_list_for_user
from accounts.services import membership_set, organization_create, user_get_or_create
from projects.generation import synthetic_data_generate
from projects.models import Event, IdentityLink, Project
from projects.selectors import project_list_for_user
from projects.services import project_create

DEMO_OWNER_EMAIL = "demo@example.com"
DEMO_ORGANIZATION_NAME = "Demo Organization"
DEMO_PROJECT_NAME = "Demo Project"
DEFAULT_SITE_URL = "http://127.0.0.1:8000/"
DEMO_USERS = 60
DEMO_EVENTS = 3000


def demo_password_generate() -> str:
    return secrets.token_urlsafe(12)


def password_arg(value: str) -> str:
    # As with createorg: whoever picks the password vouches for it, so the strength validators
    # do not apply; an empty one would leave the demo owner unable to sign in.
    if value == "":
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _demo_project_get(*, owner: User, organization: Organization) -> Project | None:
    return (
        project_list_for_user(user=owner)
        .filter(organization=organization, name=DEMO_PROJECT_NAME)
        .first()
    )


def demo_seed(*, password: str) -> tuple[User, Organization, Project]:
    """The demo owner (with this password and a verified address), organization and project."""
    with transaction.atomic():
        owner, _ = user_get_or_create(email=DEMO_OWNER_EMAIL, password=password)
        organization = (
            organization_list_for_user(user=owner).filter(name=DEMO_ORGANIZATION_NAME).first()
        )
        if organization is None:
            organization = organization_create(name=DEMO_ORGANIZATION_NAME, owner=owner)
        else:
            # Someone may have demoted the demo owner in the UI; the demo needs an owner login.
            membership_set(actor=OPERATOR, organization=organization, user=owner, role=Role.OWNER)
        project = _demo_project_get(owner=owner, organization=organization)
        if project is None:
            # The API secret is not printed: the demo does not need it, and createorg with this
            # organization, owner and project issues a new one (and a GDPR token) on demand.
            project, _ = project_create(
                actor=OPERATOR, organization=organization, name=DEMO_PROJECT_NAME
            )
    if not Event.objects.filter(project=project).exists():
        # A small, realistic store, so requests have something to export and delete.
        synthetic_data_generate(project=project, users=DEMO_USERS, events=DEMO_EVENTS, seed=1)
    return owner, organization, project


def demo_example_distinct_id(project: Project) -> str | None:
    """An end user of the demo store with aliases or devices, to try a request on."""
    link = IdentityLink.objects.filter(project=project).order_by("canonical_id").first()
    if link is not None:
        return link.canonical_id
    return Event.objects.filter(project=project).values_list("distinct_id", flat=True).first()


class Command(BaseCommand):
    help = (
        "Create or reuse the demo organization, its owner demo@example.com and 'Demo Project'; "
        "set a fresh password for the owner and print the login."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            type=password_arg,
            help="Password for the demo owner (default: a new random one).",
        )
        parser.add_argument(
            "--site-url", default=DEFAULT_SITE_URL, help="URL to print for signing in."
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="Print one JSON object instead of text.",
        )

    def handle(self, *args, password, site_url, as_json, **options):
        if password is None:
            password = demo_password_generate()
        owner, organization, project = demo_seed(password=password)

        login = {
            "organization_id": organization.id,
            "organization_name": organization.name,
            "project_id": project.id,
            "project_name": project.name,
            "project_token": project.token,
            "owner_email": owner.email,
            "password": password,
            "site_url": site_url,
            "example_distinct_id": demo_example_distinct_id(project),
        }
        if as_json:
            self.stdout.write(json.dumps(login))
            return
        self.stdout.write(
            f"Demo: organization {organization.name!r}, project {project.name!r}\n"
            f"  Site:          {site_url}\n"
            f"  Email:         {owner.email}\n"
            f"  Password:      {password}\n"
            f"  Project token: {project.token}\n"
            f"  An end user:   {login['example_distinct_id']} (with linked ids; try a request)"
        )
