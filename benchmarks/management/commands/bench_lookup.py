from django.core.management.base import CommandError, CommandParser

from benchmarks.errors import BenchRefused
from benchmarks.lookup import lookup_bench_run
from config.commands import OperatorCommand, bounded_int_arg
from privacy_requests.errors import PrivacyRequestError
from projects.errors import ProjectsError


class Command(OperatorCommand):
    help = (
        "PostgreSQL only. Builds (or reuses) a project of N generated profiles, then times the "
        "end-user lookup as the page and the API run it, by $email, by another property, by a "
        "distinct_id prefix, and the engage query's where on $email: median, p95, slowest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--profiles",
            type=bounded_int_arg(low=1, high=10_000_000),
            default=1_000_000,
            metavar="N",
            help="Profiles in the store (default 1,000,000).",
        )
        parser.add_argument(
            "--lookups",
            type=bounded_int_arg(low=1, high=10_000),
            default=200,
            metavar="L",
            help="Lookups of each kind, each of another value (default 200).",
        )
        parser.add_argument(
            "--seed", type=bounded_int_arg(low=0, high=2**31 - 1), default=1, help="Dataset seed."
        )

    def handle(self, *args, **options) -> None:
        try:
            lookup_bench_run(
                profiles=options["profiles"],
                lookups=options["lookups"],
                seed=options["seed"],
                say=self.stdout.write,
            )
        except (BenchRefused, ProjectsError, PrivacyRequestError) as exc:
            raise CommandError(str(exc)) from exc
