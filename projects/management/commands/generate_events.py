import argparse
import os

from django.core.management.base import CommandError, CommandParser

from config.commands import OperatorCommand, bounded_int_arg
from projects.errors import ProjectsError
from projects.generation import synthetic_data_generate
from projects.models import Project


class Command(OperatorCommand):
    help = (
        "Adds realistic synthetic end-user data to an existing project: profiles and identity "
        "links for N new users and M events over the last years. On PostgreSQL the server makes "
        "the rows (INSERT ... SELECT over generate_series, committed chunk by chunk). Refuses "
        "when the database's disk lacks room."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project-token", required=True, metavar="T", help="Project token.")
        parser.add_argument(
            "--users", required=True, type=bounded_int_arg(low=1), metavar="N", help="New users."
        )
        parser.add_argument(
            "--events", required=True, type=bounded_int_arg(low=0), metavar="M", help="New events."
        )
        parser.add_argument(
            "--years",
            type=bounded_int_arg(low=1, high=50),
            default=2,
            metavar="Y",
            help="Spread the events over the last Y years (default 2).",
        )
        parser.add_argument(
            "--seed",
            type=bounded_int_arg(low=0, high=2**31 - 1),
            metavar="S",
            help="Makes the run reproducible (default: a random seed, printed).",
        )
        parser.add_argument(
            "--workers",
            type=bounded_int_arg(low=1, high=16),
            default=min(os.cpu_count() or 1, 4),
            metavar="W",
            help="Database connections inserting events at once on PostgreSQL "
            "(default: the number of CPUs, at most 4).",
        )
        # Tests pretend the disk is full with it.
        parser.add_argument(
            "--assume-free-bytes", type=bounded_int_arg(low=0), help=argparse.SUPPRESS
        )

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(token=options["project_token"].strip()).first()
        if project is None:
            raise CommandError("No project has this token.")
        try:
            summary = synthetic_data_generate(
                project=project,
                users=options["users"],
                events=options["events"],
                years=options["years"],
                seed=options["seed"],
                workers=options["workers"],
                free_bytes=options["assume_free_bytes"],
                progress=self.stdout.write,
            )
        except ProjectsError as exc:
            raise CommandError(str(exc)) from exc
        links = summary.identity_links
        by_kind = ", ".join(f"{kind} {count:,}" for kind, count in sorted(links.items()))
        self.stdout.write(
            f"Done in {summary.seconds:.1f} s ({summary.events_per_second:,.0f} events/s). "
            f"Added to project {project.name!r}: {summary.events:,} events, "
            f"{summary.profiles:,} profiles, {sum(links.values()):,} identity links"
            f"{f' ({by_kind})' if by_kind else ''}. Seed {summary.seed}."
        )
