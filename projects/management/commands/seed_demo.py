"""Creates, or brings back, the demo organization, its owner and project; prints the login."""

import json

from django.core.management.base import BaseCommand

from config.commands import password_arg
from projects.demo import demo_example_distinct_id, demo_password_generate, demo_seed

DEFAULT_SITE_URL = "http://127.0.0.1:8000/"


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
