from django.core.management.base import CommandError, CommandParser

from benchmarks.engage_query import engage_bench_run
from benchmarks.errors import BenchRefused
from config.commands import OperatorCommand, bounded_int_arg
from projects.errors import ProjectsError


class Command(OperatorCommand):
    help = (
        "PostgreSQL only. Builds (or reuses) a project of N generated profiles, then times the "
        "engage query (/api/2.0/engage): page 0 and a full pass per where expression and "
        "strategy in process, and mixpanel-utils' query_engage through gunicorn."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--profiles",
            type=bounded_int_arg(low=1, high=10_000_000),
            default=200_000,
            metavar="N",
            help="Profiles in the store (default 200,000).",
        )
        parser.add_argument(
            "--seed", type=bounded_int_arg(low=0, high=2**31 - 1), default=1, help="Dataset seed."
        )

    def handle(self, *args, **options) -> None:
        try:
            engage_bench_run(
                profiles=options["profiles"], seed=options["seed"], say=self.stdout.write
            )
        except (BenchRefused, ProjectsError) as exc:
            raise CommandError(str(exc)) from exc
